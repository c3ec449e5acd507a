package contract

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// projectDirResult is everything ProjectDir returns, compared whole.
type projectDirResult struct {
	Dir string
	Err error
}

// projectDirCases is the specification of ProjectDir; FuzzProjectDir is seeded with its inputs.
var projectDirCases = []struct {
	name string
	in   string
	want projectDirResult
}{
	// GESIS compatibility: the names Persistent BinderHub gave to the URLs BinderHub sets.
	{
		name: "a GitHub repository gets the folder GESIS Persistent BinderHub gave it",
		in:   "https://github.com/binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "dots, dashes and case in a GitHub repository name are kept and underscores replaced as GESIS did",
		in:   "https://github.com/Owner_Name/my.repo-Name_2",
		want: projectDirResult{Dir: "gh_Owner_Name_my.repo-Name_2"},
	},
	{
		name: "a deep GitLab group path ending in .git is named without .git, every slash an underscore",
		in:   "https://gitlab.com/gesis/methods/summer-school-2024/day-3/network-analysis.git",
		want: projectDirResult{Dir: "gl_gesis_methods_summer-school-2024_day-3_network-analysis"},
	},
	{
		name: "a gist URL as BinderHub's gist provider writes it, with .git, is gist_<user>_<id>",
		in:   "https://gist.github.com/betatim/6a0b2ea7a1f4a5d0c6b1b1e1b47d6f43.git",
		want: projectDirResult{Dir: "gist_betatim_6a0b2ea7a1f4a5d0c6b1b1e1b47d6f43"},
	},
	{
		name: "a repository on another git host is git_ and its path, without the host, as GESIS did",
		in:   "https://codeberg.org/forgejo/forgejo.git",
		want: projectDirResult{Dir: "git_forgejo_forgejo"},
	},
	{
		name: "a self-hosted GitLab is another git host",
		in:   "https://gitlab.example.org/group/sub/project.git",
		want: projectDirResult{Dir: "git_group_sub_project"},
	},
	{
		name: "a Zenodo DOI, which BinderHub passes as the repository URL, is git_ and the DOI as GESIS did",
		in:   "10.5281/zenodo.3242074",
		want: projectDirResult{Dir: "git_10.5281_zenodo.3242074"},
	},
	{
		name: "a Dataverse DOI with slashes in its suffix is git_ and the DOI",
		in:   "10.7910/DVN/TJCLKP",
		want: projectDirResult{Dir: "git_10.7910_DVN_TJCLKP"},
	},
	{
		name: "a DOI given as a doiPattern.org URL gets the same folder as the bare DOI",
		in:   "https://doiPattern.org/10.5281/zenodo.3242074",
		want: projectDirResult{Dir: "git_10.5281_zenodo.3242074"},
	},
	{
		name: "a Hydroshare resource URL is git_resource_<id>",
		in:   "https://www.hydroshare.org/resource/8f7c2f0341ef4180b0dc53ea1d7f6d1b",
		want: projectDirResult{Dir: "git_resource_8f7c2f0341ef4180b0dc53ea1d7f6d1b"},
	},

	// One repository, one folder.
	{
		name: "a GitHub URL ending in .git is the same project as without",
		in:   "https://github.com/binder-examples/requirements.git",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a trailing slash does not make a new project",
		in:   "https://github.com/binder-examples/requirements/",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a trailing slash after .git does not make a new project",
		in:   "https://gitlab.com/gesis/methods/summer-school-2024/day-3/network-analysis.git/",
		want: projectDirResult{Dir: "gl_gesis_methods_summer-school-2024_day-3_network-analysis"},
	},
	{
		name: "an upper-case host and scheme are the same host",
		in:   "HTTPS://GitHub.COM/binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "www.github.com is github.com",
		in:   "https://www.github.com/binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a fully qualified host with a trailing dot is the same host",
		in:   "https://github.com./binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a default port does not make a new project",
		in:   "https://github.com:443/binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "an http URL is the same project as the https one",
		in:   "http://github.com/binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "user info, such as a token, is dropped and never appears in the folder name",
		in:   "https://x-access-token:ghp_secret@github.com/binder-examples/requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a query string and a fragment do not make a new project",
		in:   "https://github.com/binder-examples/requirements?tab=readme#top",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a GitHub /tree/<ref> suffix is another ref of the same project",
		in:   "https://github.com/binder-examples/requirements/tree/main",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a GitHub /blob/<ref>/<file> suffix is the same project",
		in:   "https://github.com/binder-examples/requirements/blob/0a1b2c/index.ipynb",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a GitLab /-/tree/<ref> suffix is another ref of the same project",
		in:   "https://gitlab.com/gesis/methods/summer-school-2024/day-3/network-analysis/-/tree/main",
		want: projectDirResult{Dir: "gl_gesis_methods_summer-school-2024_day-3_network-analysis"},
	},
	{
		name: "a gist revision is the same project",
		in:   "https://gist.github.com/betatim/6a0b2ea7a1f4a5d0c6b1b1e1b47d6f43/f00dfeed",
		want: projectDirResult{Dir: "gist_betatim_6a0b2ea7a1f4a5d0c6b1b1e1b47d6f43"},
	},
	{
		name: "double slashes inside the path are ignored",
		in:   "https://github.com//binder-examples//requirements",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "an scp-like git@github.com:owner/repo.git URL is the GitHub project",
		in:   "git@github.com:binder-examples/requirements.git",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "an ssh URL to GitHub is the GitHub project",
		in:   "ssh://git@github.com/binder-examples/requirements.git",
		want: projectDirResult{Dir: "gh_binder-examples_requirements"},
	},
	{
		name: "a git:// URL on another host is a git project",
		in:   "git://git.example.org/pub/scm/tool.git",
		want: projectDirResult{Dir: "git_pub_scm_tool"},
	},
	{
		name: "an IPv6 host with a port is a git host, and only its path names the folder",
		in:   "http://[2001:db8::1]:8080/team/analysis",
		want: projectDirResult{Dir: "git_team_analysis"},
	},

	// Kept apart on purpose.
	{
		name: "a path on another git host keeps a /tree/ segment, since there it may be part of the path",
		in:   "https://git.example.org/team/analysis/tree/main",
		want: projectDirResult{Dir: "git_team_analysis_tree_main"},
	},
	{
		name: "a host that merely contains github.com is not GitHub",
		in:   "https://github.com.evil.example/binder-examples/requirements",
		want: projectDirResult{Dir: "git_binder-examples_requirements"},
	},
	{
		name: "a GitHub subdomain other than gist and www is another git host",
		in:   "https://api.github.com/repos/owner/repo",
		want: projectDirResult{Dir: "git_repos_owner_repo"},
	},
	{
		name: "the case of the path is kept, as GESIS kept it",
		in:   "https://github.com/Binder-Examples/Requirements",
		want: projectDirResult{Dir: "gh_Binder-Examples_Requirements"},
	},
	{
		name: "a non-ASCII path becomes underscores plus a hash of the name, so that different such names stay apart",
		in:   "https://example.org/ä/b",
		want: projectDirResult{Dir: "git___b-1edccd9961f531c4"},
	},
	{
		name: "a long name is cut to 255 bytes with a fixed hash suffix of the whole name",
		in:   "https://example.org/" + strings.Repeat("a", 300),
		want: projectDirResult{Dir: "git_" + strings.Repeat("a", 234) + "-c8eefe72792dafb7"},
	},
	{
		name: "a long GitLab path is cut to 255 bytes with a fixed hash suffix of the whole name",
		in:   "https://gitlab.com/g/" + strings.Repeat("x", 300) + "/p.git",
		want: projectDirResult{Dir: "gl_g_" + strings.Repeat("x", 233) + "-e203c3501ea07763"},
	},

	// Hostile input.
	{
		name: "percent-encoded dots are not decoded, so they become underscores",
		in:   "https://github.com/owner/%2e%2e",
		want: projectDirResult{Dir: "gh_owner__2e_2e"},
	},
	{
		name: "shell metacharacters in the path become underscores",
		in:   "https://github.com/$(rm%20-rf%20~)/`id`;'\"|&<>*",
		want: projectDirResult{Dir: "gh___rm_20-rf_20____id_________"},
	},
	{
		name: "a .. segment in the path is refused",
		in:   "https://git.example.org/team/../../etc/passwd",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a . segment in the path is refused",
		in:   "https://github.com/./requirements",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a last segment that is a dot once .git is dropped is refused",
		in:   "https://git.example.org/team/..git",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a relative path is not a repository URL",
		in:   "../../etc",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "percent-encoded dots alone are not a repository URL",
		in:   "%2e%2e",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a shell command is not a repository URL",
		in:   "$(rm -rf /)",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "backticks alone are not a repository URL",
		in:   "`reboot`",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a newline in a URL is refused",
		in:   "https://github.com/binder-examples/requirements\n",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a NUL byte in a URL is refused",
		in:   "https://github.com/binder-examples/req\x00uirements",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a space in a URL is refused",
		in:   "https://github.com/binder examples/requirements",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a non-breaking space in a URL is refused",
		in:   "https://github.com/binder-examples/requirements\u00a0",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "invalid UTF-8 is refused",
		in:   "https://github.com/binder-examples/\xff",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a URL longer than 8192 bytes is refused",
		in:   "https://github.com/owner/" + strings.Repeat("r", 8192),
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a bad percent escape is refused",
		in:   "https://github.com/owner/%zz",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a host with shell metacharacters is refused",
		in:   "https://$(id).example/owner/repo",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a non-ASCII host is refused; it must be written in punycode",
		in:   "https://bücher.example/owner/repo",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},

	// Not a repository URL at all.
	{
		name: "an empty URL is refused",
		in:   "",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "an owner/repo without a scheme is refused",
		in:   "binder-examples/requirements",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a file URL is refused",
		in:   "file:///etc/passwd",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "an ftp URL is refused",
		in:   "ftp://example.org/repo.git",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a javascript URL is refused",
		in:   "javascript:alert(1)",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "an https URL without a host is refused",
		in:   "https:///binder-examples/requirements",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "an opaque https URL is refused",
		in:   "https:github.com/binder-examples/requirements",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},

	{
		name: "a DOI prefix without a suffix is refused",
		in:   "10.5281/#",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},
	{
		name: "a host that is only a dot is refused",
		in:   "http://./owner/repo",
		want: projectDirResult{Err: ErrInvalidRepoURL},
	},

	// A host but no repository.
	{
		name: "GitHub's front page names no repository",
		in:   "https://github.com/",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
	{
		name: "a GitHub owner alone names no repository",
		in:   "https://github.com/binder-examples",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
	{
		name: "a GitHub owner with only .git names no repository",
		in:   "https://github.com/binder-examples/.git",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
	{
		name: "a GitLab group alone names no repository",
		in:   "https://gitlab.com/gesis",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
	{
		name: "a GitLab /-/ page with no project before it names no repository",
		in:   "https://gitlab.com/-/ide/project/gesis/x",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
	{
		name: "a gist user alone names no repository",
		in:   "https://gist.github.com/betatim",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
	{
		name: "a git host with only a query names no repository",
		in:   "https://git.example.org?repo=x",
		want: projectDirResult{Err: ErrNoRepositoryPath},
	},
}

// sameError reports whether got matches the sentinel want (errors.Is), or both are nil.
func sameError(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}

func TestProjectDir(t *testing.T) {
	for _, tc := range projectDirCases {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := ProjectDirOf(tc.in)
			got := projectDirResult{Dir: string(dir), Err: err}
			if got.Dir != tc.want.Dir || !sameError(got.Err, tc.want.Err) {
				t.Errorf("ProjectDirOf(%q)\n got: %+v\nwant: %+v", tc.in, got, tc.want)
			}
			if err == nil {
				if err := ValidateProjectDir(string(dir)); err != nil {
					t.Errorf("ProjectDirOf(%q) = %q, which ValidateProjectDir refuses: %v", tc.in, dir, err)
				}
			}
		})
	}
}

func TestProjectDirLongNames(t *testing.T) {
	base := "https://github.com/owner/" + strings.Repeat("r", 400)
	tests := []struct {
		name string
		test func(t *testing.T)
	}{
		{
			name: "a long name is the same on every call",
			test: func(t *testing.T) {
				first, err1 := ProjectDirOf(base)
				second, err2 := ProjectDirOf(base)
				if err1 != nil || err2 != nil || first != second {
					t.Errorf("ProjectDir twice = (%q, %v), (%q, %v); want one name twice", first, err1, second, err2)
				}
			},
		},
		{
			name: "a long name is exactly 255 bytes: the first 238 bytes, a dash and 16 hex digits",
			test: func(t *testing.T) {
				dir, err := ProjectDirOf(base)
				if err != nil {
					t.Fatal(err)
				}
				want := regexp.MustCompile(`^gh_owner_r{229}-[0-9a-f]{16}$`)
				if len(dir) != MaxProjectDirLen || !want.MatchString(string(dir)) {
					t.Errorf("ProjectDir = %q (%d bytes); want it to match %s", dir, len(dir), want)
				}
			},
		},
		{
			name: "two long URLs with the same first 300 bytes get different names",
			test: func(t *testing.T) {
				a, errA := ProjectDirOf(base + "a")
				b, errB := ProjectDirOf(base + "b")
				if errA != nil || errB != nil || a == b {
					t.Errorf("ProjectDir = (%q, %v) and (%q, %v); want two different names", a, errA, b, errB)
				}
			},
		},
		{
			name: "a long name and its ref suffix variant are the same project",
			test: func(t *testing.T) {
				a, errA := ProjectDirOf(base)
				b, errB := ProjectDirOf(base + ".git/tree/main")
				if errA != nil || errB != nil || a != b {
					t.Errorf("ProjectDir = (%q, %v) and (%q, %v); want one name", a, errA, b, errB)
				}
			},
		},
		{
			name: "a name of exactly 255 bytes is not cut",
			test: func(t *testing.T) {
				in := "https://example.org/" + strings.Repeat("a", MaxProjectDirLen-len("git_"))
				dir, err := ProjectDirOf(in)
				if err != nil || string(dir) != "git_"+strings.Repeat("a", MaxProjectDirLen-len("git_")) {
					t.Errorf("ProjectDirOf(%q) = (%q, %v); want the name uncut", in, dir, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.test)
	}
}

func TestProjectDirErrorMessages(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantContain []string
		wantAbsent  []string
	}{
		{
			name:        "an unsupported scheme is named in the error together with the URL",
			in:          "ftp://example.org/repo.git",
			wantContain: []string{`"ftp://example.org/repo.git"`, `scheme "ftp"`},
		},
		{
			name:        "a missing repository path says what the URL should end in",
			in:          "https://github.com/binder-examples",
			wantContain: []string{`"https://github.com/binder-examples"`, "/<owner>/<repo>"},
		},
		{
			name:        "a token in the user info never appears in an error",
			in:          "https://x-access-token:ghp_secret@github.com/owner",
			wantContain: []string{"github.com/owner"},
			wantAbsent:  []string{"ghp_secret", "x-access-token"},
		},
		{
			name:        "a control character is shown escaped, not raw",
			in:          "https://github.com/a/b\x1b[2J",
			wantContain: []string{`\x1b`},
			wantAbsent:  []string{"\x1b"},
		},
		{
			name:        "a very long URL is cut in the error",
			in:          "https://github.com/owner/" + strings.Repeat("r", 9000),
			wantContain: []string{"(9025 bytes)"},
			wantAbsent:  []string{strings.Repeat("r", 200)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ProjectDirOf(tc.in)
			if err == nil {
				t.Fatalf("ProjectDirOf(%q) succeeded; want an error", tc.in)
			}
			msg := err.Error()
			for _, s := range tc.wantContain {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			for _, s := range tc.wantAbsent {
				if strings.Contains(msg, s) {
					t.Errorf("error %q contains %q", msg, s)
				}
			}
		})
	}
}

func TestValidateProjectDir(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{name: "a GESIS-style name is valid", in: "gh_binder-examples_requirements"},
		{name: "letters, digits, dots, dashes and underscores are valid", in: "Az09._-"},
		{name: "a dot inside a name is valid", in: "a.b"},
		{name: "a name of exactly 255 bytes is valid", in: strings.Repeat("a", 255)},
		{name: "a single character is valid", in: "a"},
		{name: "an empty name is invalid", in: "", wantErr: ErrInvalidProjectDir},
		{name: "a name of 256 bytes is invalid", in: strings.Repeat("a", 256), wantErr: ErrInvalidProjectDir},
		{name: "the name . is invalid", in: ".", wantErr: ErrInvalidProjectDir},
		{name: "the name .. is invalid", in: "..", wantErr: ErrInvalidProjectDir},
		{name: "a hidden name is invalid", in: ".ssh", wantErr: ErrInvalidProjectDir},
		{name: "a slash is invalid", in: "a/b", wantErr: ErrInvalidProjectDir},
		{name: "a path escaping the volume is invalid", in: "../../etc", wantErr: ErrInvalidProjectDir},
		{name: "a space is invalid", in: "a b", wantErr: ErrInvalidProjectDir},
		{name: "a newline is invalid", in: "a\nb", wantErr: ErrInvalidProjectDir},
		{name: "a NUL byte is invalid", in: "a\x00b", wantErr: ErrInvalidProjectDir},
		{name: "a shell command substitution is invalid", in: "$(rm)", wantErr: ErrInvalidProjectDir},
		{name: "a backtick is invalid", in: "a`id`", wantErr: ErrInvalidProjectDir},
		{name: "a quote is invalid", in: `a'b"c`, wantErr: ErrInvalidProjectDir},
		{name: "a glob is invalid", in: "*", wantErr: ErrInvalidProjectDir},
		{name: "a non-ASCII letter is invalid", in: "ä", wantErr: ErrInvalidProjectDir},
		{name: "a percent sign is invalid", in: "%2e%2e", wantErr: ErrInvalidProjectDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateProjectDir(tc.in)
			if !sameError(err, tc.wantErr) {
				t.Errorf("ValidateProjectDirOf(%q) = %v; want %v", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestValidateProjectDirErrorNamesTheValue(t *testing.T) {
	err := ValidateProjectDir("../x")
	if err == nil || !strings.Contains(err.Error(), `"../x"`) || !strings.Contains(err.Error(), "start with") {
		t.Errorf(`ValidateProjectDir("../x") = %v; want an error naming "../x" and the rule`, err)
	}
}

var safeProjectDirPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func FuzzProjectDir(f *testing.F) {
	for _, tc := range projectDirCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		dir, err := ProjectDirOf(in)
		if err != nil {
			if dir != "" {
				t.Errorf("ProjectDirOf(%q) = (%q, %v); want no name with an error", in, dir, err)
			}
			if !errors.Is(err, ErrInvalidRepoURL) && !errors.Is(err, ErrNoRepositoryPath) {
				t.Errorf("ProjectDirOf(%q) error %v is neither ErrInvalidRepoURL nor ErrNoRepositoryPath", in, err)
			}
			return
		}
		if err := ValidateProjectDir(string(dir)); err != nil {
			t.Errorf("ProjectDirOf(%q) = %q, which ValidateProjectDir refuses: %v", in, dir, err)
		}
		if len(dir) > MaxProjectDirLen || !safeProjectDirPattern.MatchString(string(dir)) || dir[0] == '.' {
			t.Errorf("ProjectDirOf(%q) = %q (%d bytes); want 1..255 bytes of [A-Za-z0-9._-], not starting with '.'",
				in, dir, len(dir))
		}
		again, err := ProjectDirOf(in)
		if err != nil || again != dir {
			t.Errorf("ProjectDirOf(%q) = %q, then (%q, %v); want the same name twice", in, dir, again, err)
		}
	})
}
