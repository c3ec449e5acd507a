package service

import (
	"net/url"
	"strings"
)

// Launch links follow BinderHub's URL scheme, {binderhub}v2/<provider>/<spec>/<ref>, as its repo
// providers parse it (jupyterhub/binderhub, binderhub/repoproviders.py):
//
//	gh    <owner>/<repo>/<ref>                      the spec as is; the ref may contain "/"
//	gist  <user>/<gist id>/<ref>
//	gl    <url-escaped project path>/<ref>          "group/sub/project" as group%2Fsub%2Fproject
//	git   <url-escaped repository URL>/<ref>        https%3A%2F%2Fgit.example.org%2Frepo.git
//
// The page's launch form (page.html) builds the same URLs in JavaScript.

// launchRef is the ref the launch form asks for when none is given: the repository's current default
// branch (a new image; the project's files are kept).
const launchRef = "HEAD"

// LaunchURL is the BinderHub launch link for provider ("gh", "gl", "gist" or "git"), repository and
// ref (HEAD when empty), below binderHub (which ends in "/").
func LaunchURL(binderHub, provider, repo, ref string) string {
	repo = strings.TrimSpace(repo)
	ref = strings.Trim(strings.TrimSpace(ref), "/")
	if repo == "" || binderHub == "" {
		return ""
	}
	if ref == "" {
		ref = launchRef
	}
	var spec string
	switch provider {
	case "gh", "gist":
		host := "github.com"
		if provider == "gist" {
			host = "gist.github.com"
		}
		spec = escapeSegments(strings.TrimSuffix(trimRepoHost(repo, host), ".git"))
	case "gl":
		spec = escapeComponent(strings.TrimSuffix(trimRepoHost(repo, "gitlab.com"), ".git"))
	case "git":
		spec = escapeComponent(repo)
	default:
		return ""
	}
	if spec == "" {
		return ""
	}
	return binderHub + "v2/" + provider + "/" + spec + "/" + escapeSegments(ref)
}

// ProjectLaunchURL is the launch link of a recorded project: its repository URL (GitHub, gists and
// gitlab.com by their providers, any other host through BinderHub's git provider) at the recorded
// commit, so that the user continues where they left off, with the same code and the image BinderHub
// built for it (no new build). HEAD when no commit is recorded. Empty when the URL is not one
// BinderHub can launch.
func ProjectLaunchURL(binderHub, repoURL, commit string) string {
	ref := strings.TrimSpace(commit)
	if ref == "" {
		ref = launchRef
	}
	u, err := url.Parse(strings.TrimSpace(repoURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "git" && u.Scheme != "ssh") || u.Host == "" {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	host = strings.TrimPrefix(host, "www.")
	var segs []string
	for _, s := range strings.Split(u.Path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	switch host {
	case "github.com", "gist.github.com":
		if len(segs) < 2 {
			return ""
		}
		provider := "gh"
		if host == "gist.github.com" {
			provider = "gist"
		}
		return LaunchURL(binderHub, provider, segs[0]+"/"+strings.TrimSuffix(segs[1], ".git"), ref)
	case "gitlab.com":
		var path []string
		for _, s := range segs {
			if strings.HasPrefix(s, "-") {
				break
			}
			path = append(path, s)
		}
		if len(path) < 2 {
			return ""
		}
		return LaunchURL(binderHub, "gl", strings.Join(path, "/"), ref)
	default:
		return LaunchURL(binderHub, "git", repoURL, ref)
	}
}

// trimRepoHost drops a leading "https://<host>/" (or "http://", or the bare host) and surrounding
// slashes, as BinderHub's form does for its own providers.
func trimRepoHost(repo, host string) string {
	for _, p := range []string{"https://", "http://", ""} {
		for _, h := range []string{host, "www." + host} {
			if rest, ok := strings.CutPrefix(repo, p+h+"/"); ok {
				repo = rest
			}
		}
	}
	return strings.Trim(repo, "/")
}

// escapeComponent escapes s as one URL path segment, "/" included (JavaScript's encodeURIComponent,
// stricter).
func escapeComponent(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// escapeSegments escapes each "/"-separated part of s, keeping the slashes.
func escapeSegments(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = escapeComponent(p)
	}
	return strings.Join(parts, "/")
}
