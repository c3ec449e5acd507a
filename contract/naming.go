package contract

// The project-folder naming rule: which folder, on the user's volume, holds the project launched from
// a repository URL.
//
// Compatibility. Folders created by GESIS "Persistent BinderHub" must be found again. We matched
// PersistentBinderSpawner.url_to_display_name and url_to_dir in gesiscss/persistent_binderhub,
// persistent_binderhub/files/jupyterhub/persistent_bhub_config.py (identical in the earlier versions of
// that spawner we found). Their rule, applied to the repo_url BinderHub sets
// (BINDER_REPO_URL), is:
//
//  1. drop a trailing ".git" from the whole URL;
//  2. urlparse it; the prefix is "gist" if the lowercased netloc contains "gist.github.com", else "gh"
//     if it contains "github.com", else "gl" if it contains "gitlab.com", else "git";
//  3. the name is prefix + "/" + the path with leading and trailing "/" stripped (host, port, user
//     info, query and fragment are dropped; the path is not percent-decoded);
//  4. every character that is not Python-isalnum, "-" or "." becomes "_";
//  5. a name over 255 characters becomes its first 122 + "_" + its last 122 + "_" + 8 random
//     characters.
//
// The URLs BinderHub's repo providers produce (jupyterhub/binderhub, binderhub/repoproviders.py,
// get_repo_url) are: GitHub "https://github.com/<user>/<repo>"; GitLab
// "https://<hostname>/<namespace>.git" (namespace: the nested group path); Gist
// "https://gist.github.com/<user>/<gist id>.git"; Git the URL as given (a "user@host:path" form
// rewritten to "ssh://user@host/path"); Zenodo, Figshare and Dataverse the DOI as given
// ("10.5281/zenodo.3242074"), which GESIS's rule names "git_10.5281_zenodo.3242074"; Hydroshare
// "https://www.hydroshare.org/resource/<id>".
//
// Our rule gives the same name for every such URL, and differs where GESIS's is unsafe or splits one
// repository in two:
//
//   - The provider is chosen by exact host, not substring: "github.com.evil.example" is a "git" host,
//     not GitHub. "www." before github.com and gitlab.com, and a trailing dot on the host, are ignored.
//   - Host case, port and user info never matter (the host is only used to pick the prefix; for "git"
//     it is dropped, as GESIS did). User info (a token) is dropped before anything else
//     (RedactRepoURL, credentials.go), so it never reaches the name or an error message.
//   - Query strings and fragments are dropped, empty path segments ("//", trailing "/") are ignored,
//     and ".git" is dropped from the last kept segment, so "…/repo/" and "…/repo.git/" are "…/repo".
//   - Ref suffixes are dropped where that is unambiguous: a GitHub repository and a gist are always
//     exactly two segments (<owner>/<repo>, <user>/<id>), so "/tree/<ref>", "/blob/…" and a gist
//     revision are dropped; a GitLab project path ends before the first "-" segment ("/-/tree/<ref>"),
//     as GitLab paths cannot start with "-". For other hosts nothing is dropped: there is no way to
//     tell a ref from a path. GitLab's old "/tree/<ref>" form (no "-") is kept, as it is ambiguous.
//   - The path's case is kept (GESIS folders keep it; generic git servers are case sensitive).
//   - Only ASCII letters, digits, "-" and "." survive; every other character (per code point, as
//     GESIS did) becomes "_". A name that contained non-ASCII characters, which GESIS kept and no
//     BinderHub provider for GitHub or GitLab produces, gets a hash suffix so that different such
//     names stay apart.
//   - A name over MaxProjectDirLen bytes is cut and gets a deterministic hash suffix (GESIS appended
//     a random one, so such a project was copied anew on every launch). The suffix, for long and for
//     non-ASCII names, is "-" and the first 16 hex digits of the SHA-256 of "<prefix>/<path>" (before
//     "_" replaced anything); the name before it is cut to 238 bytes, so the total is at most 255.
//   - The name always starts with the prefix, so it is never ".", ".." or hidden; "." and ".." path
//     segments are refused rather than kept.
//   - Anything that is not an absolute http, https, git or ssh URL (or "user@host:path", or a DOI)
//     is refused, as are control characters and whitespace anywhere.
//
// Non-goal: the name is not injective. "gh/a_b/c" and "gh/a/b_c" share "gh_a_b_c", and the same path on
// two "git" hosts shares one folder, as under GESIS (keeping the host would lose every GESIS "git_"
// folder); the user chose to launch both, and the folder is their own.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxProjectDirLen is the longest project folder name, in bytes: NAME_MAX on Linux file systems.
const MaxProjectDirLen = 255

// maxRepoURLLen bounds the input; no real repository URL comes near it.
const maxRepoURLLen = 8192

// hashSuffixLen is the number of hex digits of the SHA-256 suffix of a cut or non-ASCII name.
const hashSuffixLen = 16

var (
	// ErrInvalidRepoURL: the repository URL is empty, not an absolute http, https, git or ssh URL,
	// or contains control characters or whitespace.
	ErrInvalidRepoURL = errors.New("invalid repository URL")
	// ErrNoRepositoryPath: the URL names a host but no repository on it.
	ErrNoRepositoryPath = errors.New("no repository path in URL")
	// ErrInvalidProjectDir: a project folder name is not safe.
	ErrInvalidProjectDir = errors.New("invalid project folder name")
)

// Provider prefixes, as GESIS and BinderHub spell them.
const (
	prefixGitHub = "gh"
	prefixGitLab = "gl"
	prefixGist   = "gist"
	prefixGit    = "git"
)

var (
	// scpLikePattern is git's "user@host:path" form; BinderHub's GIT_SSH_PATTERN rewrites it to
	// "ssh://user@host/path" before it becomes the repo_url.
	scpLikePattern = regexp.MustCompile(`^([A-Za-z0-9_-]+@[A-Za-z0-9.-]+):(.+)$`)
	// doiPattern is a bare DOI, the repo_url BinderHub sets for Zenodo, Figshare and Dataverse.
	doiPattern = regexp.MustCompile(`^10\.[0-9]+(\.[0-9]+)*/[^/?#]`)
	// hostNamePattern is an ASCII host name; internationalized names must be written in punycode (xn--).
	hostNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// ipv6HostPattern matches the inside of a bracketed IPv6 literal, with an optional zone.
	ipv6HostPattern = regexp.MustCompile(`^[0-9A-Fa-f:.]+(%[A-Za-z0-9._~-]+)?$`)
)

// ProjectDir is a project folder's name, checked: only ParseProjectDir, ProjectDirOf and JSON (or
// text) decoding make one, and each checks it (ValidateProjectDir). A name is checked once, where it
// enters (the API, an annotation, the URL, the registry); every layer after that takes a ProjectDir.
type ProjectDir string

// ParseProjectDir checks a folder name from outside (ValidateProjectDir).
func ParseProjectDir(name string) (ProjectDir, error) {
	if err := ValidateProjectDir(name); err != nil {
		return "", err
	}
	return ProjectDir(name), nil
}

// UnmarshalText makes a decoded ProjectDir a checked one: JSON holding a bad name does not decode.
func (d *ProjectDir) UnmarshalText(b []byte) error {
	dir, err := ParseProjectDir(string(b))
	if err != nil {
		return err
	}
	*d = dir
	return nil
}

// ProjectDirOf returns the folder, on the user's volume, of the project launched from repoURL. The
// URL's user info is dropped first (RedactRepoURL), so it never reaches the name or an error message,
// and a URL with credentials names the folder of the URL without them.
func ProjectDirOf(repoURL string) (ProjectDir, error) {
	repoURL = RedactRepoURL(repoURL)
	display, err := repoDisplayName(repoURL)
	if err != nil {
		return "", err
	}
	dir := projectDirName(display)
	// Cannot fail by construction (FuzzProjectDir checks it); kept so that no unsafe name can ever
	// leave this function. It matches no sentinel: it is our bug, not the user's input.
	if err := ValidateProjectDir(dir); err != nil {
		return "", fmt.Errorf("bug in binder-projects: the folder name derived from %s is unsafe: %v",
			quoteForError(repoURL), err)
	}
	return ProjectDir(dir), nil
}

// ValidateProjectDir reports whether name is a safe project folder name (used for the explicit
// binder-projects.io/project annotation and for every deletion-queue entry): only [A-Za-z0-9._-],
// 1..255 bytes, not starting with '.', so never "." or "..".
func ValidateProjectDir(name string) error {
	const rule = `a project folder name uses only A-Z, a-z, 0-9, ".", "_" and "-", ` +
		`is 1 to 255 bytes long and does not start with "."`
	switch {
	case name == "":
		return fmt.Errorf("%w: it is empty; %s", ErrInvalidProjectDir, rule)
	case len(name) > MaxProjectDirLen:
		return fmt.Errorf("%w %s: it is %d bytes long; %s", ErrInvalidProjectDir, quoteForError(name), len(name), rule)
	case name[0] == '.':
		return fmt.Errorf("%w %s: it starts with \".\"; %s", ErrInvalidProjectDir, quoteForError(name), rule)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isSafeByte(c) && c != '_' {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return fmt.Errorf("%w %s: it contains %q at byte %d; %s",
				ErrInvalidProjectDir, quoteForError(name), r, i, rule)
		}
	}
	return nil
}

// repoDisplayName maps a repository URL to GESIS's "<prefix>/<path>" form, normalized as described at the
// top of this file.
func repoDisplayName(repoURL string) (string, error) {
	if err := checkCharacters(repoURL); err != nil {
		return "", err
	}
	if doiPattern.MatchString(repoURL) {
		// A DOI is a path without a host: GESIS's urlparse saw it so, and named it "git/<doi>".
		path := repoURL
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
		segs, err := pathSegments(repoURL, path)
		if err != nil {
			return "", err
		}
		return joinRepoName(repoURL, prefixGit, segs, 1)
	}
	s := repoURL
	if m := scpLikePattern.FindStringSubmatch(s); m != nil && !strings.Contains(s, "://") {
		s = "ssh://" + m[1] + "/" + m[2]
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w %s: it cannot be parsed as a URL", ErrInvalidRepoURL, quoteForError(repoURL))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "git", "ssh":
	case "":
		return "", fmt.Errorf("%w %s: it is not an absolute URL; give the repository's "+
			"http, https, git or ssh URL, such as https://github.com/<owner>/<repo>",
			ErrInvalidRepoURL, quoteForError(repoURL))
	default:
		return "", fmt.Errorf("%w %s: scheme %q is not supported; give the repository's "+
			"http, https, git or ssh URL", ErrInvalidRepoURL, quoteForError(repoURL), u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("%w %s: it has no host; write it as %s://<host>/<path>",
			ErrInvalidRepoURL, quoteForError(repoURL), strings.ToLower(u.Scheme))
	}
	host := u.Hostname()
	if !hostNamePattern.MatchString(host) && !(strings.HasPrefix(u.Host, "[") && ipv6HostPattern.MatchString(host)) {
		return "", fmt.Errorf("%w %s: host %q is not a host name or IP address "+
			"(write internationalized names in punycode, xn--…)",
			ErrInvalidRepoURL, quoteForError(repoURL), host)
	}

	// The path as written, not percent-decoded (as GESIS's urlparse left it): the text after the
	// authority, up to the query or fragment. url.Parse has checked the rest of the syntax.
	rest := s[len(u.Scheme)+len("://"):]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	rawPath := ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rawPath = rest[i:]
	}
	segs, err := pathSegments(repoURL, rawPath)
	if err != nil {
		return "", err
	}

	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch host {
	case "github.com", "www.github.com":
		// A GitHub repository is exactly <owner>/<repo>; the rest is a view of it (tree, blob, ...).
		if len(segs) > 2 {
			segs = segs[:2]
		}
		return joinRepoName(repoURL, prefixGitHub, segs, 2)
	case "gist.github.com":
		// A gist is exactly <user>/<id>; a third segment is a revision.
		if len(segs) > 2 {
			segs = segs[:2]
		}
		return joinRepoName(repoURL, prefixGist, segs, 2)
	case "gitlab.com", "www.gitlab.com":
		// A GitLab project path is <group>/<subgroup>/.../<project>; "/-/" starts a view of it.
		for i, seg := range segs {
			if seg == "-" {
				segs = segs[:i]
				break
			}
		}
		return joinRepoName(repoURL, prefixGitLab, segs, 2)
	default:
		return joinRepoName(repoURL, prefixGit, segs, 1)
	}
}

// checkCharacters refuses what no repository URL contains: nothing at all, too much, invalid UTF-8,
// control characters and whitespace.
func checkCharacters(repoURL string) error {
	switch {
	case repoURL == "":
		return fmt.Errorf("%w: it is empty; give the repository's URL, such as "+
			"https://github.com/<owner>/<repo>", ErrInvalidRepoURL)
	case len(repoURL) > maxRepoURLLen:
		return fmt.Errorf("%w %s: it is %d bytes long, more than %d",
			ErrInvalidRepoURL, quoteForError(repoURL), len(repoURL), maxRepoURLLen)
	case !utf8.ValidString(repoURL):
		return fmt.Errorf("%w %s: it is not valid UTF-8", ErrInvalidRepoURL, quoteForError(repoURL))
	}
	for i, r := range repoURL {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w %s: it contains %q at byte %d; a URL has no whitespace or "+
				"control characters (percent-encode them)", ErrInvalidRepoURL, quoteForError(repoURL), r, i)
		}
	}
	return nil
}

// pathSegments splits a raw path into its non-empty segments and refuses "." and "..".
func pathSegments(repoURL, rawPath string) ([]string, error) {
	var segs []string
	for _, seg := range strings.Split(rawPath, "/") {
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("%w %s: its path contains a %q segment",
				ErrInvalidRepoURL, quoteForError(repoURL), seg)
		}
		if seg != "" {
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

// joinRepoName drops ".git" from the last segment and joins prefix and segments, which must be at least
// minSegs.
func joinRepoName(repoURL, prefix string, segs []string, minSegs int) (string, error) {
	if n := len(segs); n > 0 {
		last := strings.TrimSuffix(segs[n-1], ".git")
		switch last {
		case "":
			segs = segs[:n-1]
		case ".", "..":
			return "", fmt.Errorf("%w %s: its path ends in %q",
				ErrInvalidRepoURL, quoteForError(repoURL), segs[n-1])
		default:
			segs[n-1] = last
		}
	}
	if len(segs) < minSegs {
		want := "/<path>"
		switch prefix {
		case prefixGitHub:
			want = "/<owner>/<repo>"
		case prefixGist:
			want = "/<user>/<gist id>"
		case prefixGitLab:
			want = "/<group>/<project>"
		}
		return "", fmt.Errorf("%w %s: give the repository's URL, ending in %s",
			ErrNoRepositoryPath, quoteForError(repoURL), want)
	}
	return prefix + "/" + strings.Join(segs, "/"), nil
}

// projectDirName turns a display name into a folder name: every code point outside [A-Za-z0-9.-] becomes "_"
// (GESIS's rule, ASCII only); a name that had non-ASCII code points or is longer than
// MaxProjectDirLen is cut to leave room for "-" and the first hashSuffixLen hex digits of the SHA-256
// of the display name.
func projectDirName(display string) string {
	var b strings.Builder
	nonASCII := false
	for _, r := range display {
		switch {
		case r < utf8.RuneSelf && isSafeByte(byte(r)):
			b.WriteRune(r)
		default:
			nonASCII = nonASCII || r >= utf8.RuneSelf
			b.WriteByte('_')
		}
	}
	name := b.String()
	if !nonASCII && len(name) <= MaxProjectDirLen {
		return name
	}
	sum := sha256.Sum256([]byte(display))
	suffix := "-" + hex.EncodeToString(sum[:])[:hashSuffixLen]
	if keep := MaxProjectDirLen - len(suffix); len(name) > keep {
		name = name[:keep]
	}
	return name + suffix
}

// isSafeByte reports whether c survives GESIS's rule unchanged: an ASCII letter or digit, "-" or ".".
func isSafeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// quoteForError quotes a value for an error message: user info (a token, perhaps) is hidden, a long
// value is cut, and control characters are escaped.
func quoteForError(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			s = s[:i+3] + "…@" + rest[at+1:]
		}
	}
	const max = 120
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}
