package patch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The secrets of credentialCases: none of them may ever leave ResolveProject, ProjectDir or MutateWith.
const (
	secretToken = "glpat-SENTINEL0token"
	secretHalf1 = "SENTINEL1first"
	secretHalf2 = "SENTINEL2second"
)

// credentialCases are repository URLs with and without credentials, each with the URL RedactRepoURL
// makes of it, the URL without credentials that must name the same folder (empty where the URL is
// refused either way), and whether it is refused.
var credentialCases = []struct {
	sentence string
	in       string
	redacted string
	bare     string
	refused  bool
}{
	{"a token in a URL that does not parse (bad escape) is dropped",
		"https://oauth2:" + secretToken + "@gitlab.example.org/group/repo%zz",
		"https://gitlab.example.org/group/repo%zz", "", true},
	{"a token in a URL that does not parse (bad port) is dropped",
		"https://oauth2:" + secretToken + "@gitlab.example.org:abc/repo",
		"https://gitlab.example.org:abc/repo", "", true},
	{"an scp-like token@host:path becomes ssh://host/path",
		secretToken + "@github.com:owner/repo",
		"ssh://github.com/owner/repo", "https://github.com/owner/repo", false},
	{"an scp-like user:token@host:path becomes ssh://host/path",
		"user:" + secretToken + "@git.example.org:owner/repo",
		"ssh://git.example.org/owner/repo", "ssh://git.example.org/owner/repo", false},
	{"a token as the user name is dropped",
		"https://" + secretToken + "@github.com/o/r",
		"https://github.com/o/r", "https://github.com/o/r", false},
	{"a token as the password is dropped with its user name",
		"https://x-access-token:" + secretToken + "@github.com/o/r",
		"https://github.com/o/r", "https://github.com/o/r", false},
	{"a token with an empty password is dropped",
		"https://" + secretToken + ":@github.com/o/r",
		"https://github.com/o/r", "https://github.com/o/r", false},
	{"the conventional git@ of an scp-like URL is dropped as well (it cannot be told from a token)",
		"git@github.com:o/r.git",
		"ssh://github.com/o/r.git", "https://github.com/o/r", false},
	{"percent-encoded user info, with encoded @, / and :, is dropped whole",
		"https://oauth2%40corp:" + secretToken + "%2F%3A%40x@gitlab.com/group/project.git",
		"https://gitlab.com/group/project.git", "https://gitlab.com/group/project.git", false},
	{"a token before an IPv6 host is dropped",
		"https://" + secretToken + "@[2001:db8::1]:8443/group/repo",
		"https://[2001:db8::1]:8443/group/repo", "https://[2001:db8::1]/group/repo", false},
	{"an @ in the path after the host is kept: it is the repository's name, not a user",
		"https://git.example.org/group/repo@v1",
		"https://git.example.org/group/repo@v1", "https://git.example.org/group/repo@v1", false},
	{"a token before a path with an @ is dropped, and the path kept",
		"https://oauth2:" + secretToken + "@git.example.org/group/repo@v1",
		"https://git.example.org/group/repo@v1", "https://git.example.org/group/repo@v1", false},
	{"a scheme in the query of an scp-like URL does not hide its user",
		secretToken + "@github.com:o/r?u=http://x",
		"ssh://github.com/o/r?u=http://x", "https://github.com/o/r", false},
	{"a password with an unencoded / cannot be told apart: all up to the last @ goes and the URL is refused",
		"https://user:" + secretHalf1 + "/" + secretHalf2 + "@github.com/o/r",
		"https://…@github.com/o/r", "", true},
	{"a URL with one slash after the scheme cannot be told apart: all up to the last @ goes and it is refused",
		"https:/" + secretToken + "@github.com/o/r",
		"…@github.com/o/r", "", true},
	{"a token before a host without a path is dropped, and the URL refused for its missing path",
		"https://" + secretToken + "@github.com",
		"https://github.com", "", true},
	{"a URL without user info is unchanged",
		"https://gitlab.com/group/project.git",
		"https://gitlab.com/group/project.git", "https://gitlab.com/group/project.git", false},
	{"a URL with a port and no user info is unchanged",
		"https://git.example.org:8443/repo",
		"https://git.example.org:8443/repo", "https://git.example.org:8443/repo", false},
	{"a DOI is unchanged",
		"10.5281/zenodo.3242074", "10.5281/zenodo.3242074", "10.5281/zenodo.3242074", false},
}

// leaksSecret reports which secret of credentialCases s holds, or "".
func leaksSecret(s string) string {
	for _, secret := range []string{secretToken, secretHalf1, secretHalf2} {
		if strings.Contains(s, secret) {
			return secret
		}
	}
	return ""
}

func TestRedactRepoURLDropsTheUserPartWhetherOrNotTheURLParses(t *testing.T) {
	for _, tc := range credentialCases {
		t.Run(tc.sentence, func(t *testing.T) {
			got := RedactRepoURL(tc.in)
			if got != tc.redacted {
				t.Errorf("RedactRepoURL(%q) = %q, want %q", tc.in, got, tc.redacted)
			}
			if again := RedactRepoURL(got); again != got {
				t.Errorf("RedactRepoURL is not idempotent: %q, then %q", got, again)
			}
		})
	}
}

func TestAURLWithCredentialsNamesTheFolderOfTheURLWithoutThemAndNoErrorShowsThem(t *testing.T) {
	for _, tc := range credentialCases {
		t.Run(tc.sentence, func(t *testing.T) {
			dir, err := ProjectDir(tc.in)
			if tc.refused {
				if err == nil || !errors.Is(err, ErrInvalidRepoURL) && !errors.Is(err, ErrNoRepositoryPath) {
					t.Fatalf("ProjectDir(%q) = (%q, %v), want it refused", tc.in, dir, err)
				}
				if s := leaksSecret(err.Error()); s != "" {
					t.Errorf("the error %q shows the secret %q", err, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("ProjectDir(%q): %v", tc.in, err)
			}
			want, err := ProjectDir(tc.bare)
			if err != nil {
				t.Fatalf("ProjectDir(%q): %v", tc.bare, err)
			}
			if dir != want {
				t.Errorf("ProjectDir(%q) = %q, but without credentials (%q) it is %q", tc.in, dir, tc.bare, want)
			}
		})
	}
}

func TestNoCredentialInTheRepoURLReachesTheRefusalOrTheAnnotationsFromEitherEntry(t *testing.T) {
	entries := []struct {
		name string
		set  func(pod *corev1.Pod, url string)
	}{
		{"annotation", func(pod *corev1.Pod, url string) { pod.Annotations[AnnotationRepoURL] = url }},
		{"env " + EnvRepoURL, func(pod *corev1.Pod, url string) {
			c := &pod.Spec.Containers[findContainer(pod.Spec.Containers, testConfig().NotebookContainer)]
			c.Env[findEnv(c.Env, EnvRepoURL)].Value = url
		}},
	}
	for _, tc := range credentialCases {
		for _, entry := range entries {
			t.Run(tc.sentence+" (from the "+entry.name+")", func(t *testing.T) {
				pod := fixture(t, "z2jh4-binderhub-dynamic")
				entry.set(pod, tc.in)
				got, errs := MutateWith(pod, testConfig(), Registered{})
				if tc.refused {
					if len(errs) != 1 {
						t.Fatalf("errors = %v, want one, on the URL", errs)
					}
					if errs[0].BadValue != tc.redacted {
						t.Errorf("the 422's field value = %q, want the redacted URL %q", errs[0].BadValue, tc.redacted)
					}
					if s := leaksSecret(errs.ToAggregate().Error()); s != "" {
						t.Errorf("the refusal %q shows the secret %q", errs.ToAggregate().Error(), s)
					}
					return
				}
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				if u := got.Annotations[AnnotationRepoURL]; u != tc.redacted {
					t.Errorf("the %s annotation = %q, want %q", AnnotationRepoURL, u, tc.redacted)
				}
				want, _ := ProjectDir(tc.bare)
				if d := got.Annotations[AnnotationProjectDir]; d != want {
					t.Errorf("the project folder = %q, want %q, the folder of %q", d, want, tc.bare)
				}
				b, err := json.Marshal(got.Annotations)
				if err != nil {
					t.Fatal(err)
				}
				if s := leaksSecret(string(b)); s != "" {
					t.Errorf("the annotations hold the secret %q: %s", s, b)
				}
			})
		}
	}
}
