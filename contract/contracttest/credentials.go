// Package contracttest holds test cases of the contract that more than one package's tests use.
package contracttest

import "strings"

// The secrets of CredentialCases: none of them may ever leave RedactRepoURL, ProjectDirOf or the
// pod mutation.
const (
	secretToken = "glpat-SENTINEL0token"
	secretHalf1 = "SENTINEL1first"
	secretHalf2 = "SENTINEL2second"
)

// CredentialCases are repository URLs with and without credentials, each with the URL RedactRepoURL
// makes of it, the URL without credentials that must name the same folder (empty where the URL is
// refused either way), and whether it is refused.
var CredentialCases = []struct {
	Sentence string
	In       string
	Redacted string
	Bare     string
	Refused  bool
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

// LeaksSecret reports which secret of CredentialCases s holds, or "".
func LeaksSecret(s string) string {
	for _, secret := range []string{secretToken, secretHalf1, secretHalf2} {
		if strings.Contains(s, secret) {
			return secret
		}
	}
	return ""
}
