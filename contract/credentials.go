package contract

import (
	"regexp"
	"strings"
)

// Credentials in repository URLs. BinderHub passes the repository URL as it was given, and a private
// repository's URL carries a token as its user info ("https://oauth2:TOKEN@gitlab.example/g/r",
// "https://TOKEN@github.com/o/r", git's scp-like "TOKEN@github.com:o/r"). The URL reaches error
// messages, the webhook's and the hub's logs, the pod's AnnotationRepoURL and, through it, the
// registry and the projects page; so RedactRepoURL takes the user info away where the URL enters
// (ResolveProject, ProjectDir, the controller), before anything else, and every later layer only ever
// sees the redacted URL.

// redactedUser stands for user info that cannot be told apart from the rest of the URL. It is not
// ASCII, so net/url refuses the URL that carries it: a URL redacted this way is refused (as it would
// have been unredacted), never taken for another repository.
const redactedUser = "…@"

var (
	// schemeAuthorityPattern is the start of a URL with an authority: "scheme://".
	schemeAuthorityPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	// plausibleAuthority is an authority with no user info: a host name or bracketed IP literal and
	// an optional numeric port. Every authority ProjectDir accepts is one.
	plausibleAuthority = regexp.MustCompile(`^([A-Za-z0-9._~%!$&'()*+,;=-]*|\[[^\]@]*\])(:[0-9]*)?$`)
)

// RedactRepoURL returns repoURL without its user information (user name and password: a token can
// stand as either), whether or not the URL parses. ProjectDir ignores user info, so the redacted URL
// names the same project folder (or is refused as repoURL is), and RedactRepoURL is idempotent.
//
//   - "scheme://userinfo@host/path": the authority is the text after "://" up to the first "/", "?"
//     or "#" (RFC 3986, as net/url, git and curl read it); everything up to its last "@" is dropped.
//     An "@" in the path, query or fragment is kept: "https://github.com/o/r@v1" is unchanged.
//   - Git's scp-like "userinfo@host:path" (no "://"; the "@" before the first "/") becomes
//     "ssh://host/path", as BinderHub rewrites it, without the user. The conventional "git@host:path"
//     is included: a token in that place looks the same, so "git" is dropped too. Without a ":"
//     after the host, the text after the "@" is kept (and refused later, as it is not a URL).
//   - When the user part cannot be told apart (an authority that is not a host and port, as with a
//     password holding an unencoded "/", "?" or "#", "https://user:to/ken@host/r"; or an "@" after
//     the first "/" of a text that is neither "scheme://" nor a DOI, "https:/TOKEN@host/r"),
//     everything up to the last "@" becomes "…@", which no URL parser accepts: the URL is refused
//     without its secret, never read as another repository.
func RedactRepoURL(repoURL string) string {
	if m := schemeAuthorityPattern.FindString(repoURL); m != "" {
		rest := repoURL[len(m):]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			if authority[:at+1] == redactedUser {
				return repoURL // redacted already
			}
			return m + rest[at+1:]
		}
		if !plausibleAuthority.MatchString(authority) {
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				return m + redactedUser + rest[at+1:]
			}
		}
		return repoURL
	}
	// No authority: git's scp-like form, a DOI, or something that will be refused.
	end := strings.IndexByte(repoURL, '/')
	if end < 0 {
		end = len(repoURL)
	}
	if at := strings.LastIndexByte(repoURL[:end], '@'); at >= 0 {
		if repoURL[:at+1] == redactedUser {
			return repoURL // redacted already
		}
		hostPath := repoURL[at+1:]
		if colon := strings.IndexByte(hostPath, ':'); colon >= 0 && colon < end-at-1 {
			return "ssh://" + hostPath[:colon] + "/" + hostPath[colon+1:]
		}
		return hostPath
	}
	if at := strings.LastIndexByte(repoURL, '@'); at >= 0 && !doiPattern.MatchString(repoURL) {
		return redactedUser + repoURL[at+1:]
	}
	return repoURL
}
