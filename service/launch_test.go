package service

import "testing"

const binder = "https://notebooks.example.org/services/binder/"

func TestLaunchURL(t *testing.T) {
	tests := []struct {
		name, provider, repo, ref, want string
	}{
		{"a GitHub repository by name launches its HEAD when no ref is given", "gh", "binder-examples/requirements", "",
			binder + "v2/gh/binder-examples/requirements/HEAD"},
		{"a GitHub URL loses its host, a trailing slash and .git", "gh", "https://github.com/binder-examples/conda.git/", "main",
			binder + "v2/gh/binder-examples/conda/main"},
		{"a ref with a slash keeps it, as BinderHub's GitHub spec allows", "gh", "a/b", "feature/x y",
			binder + "v2/gh/a/b/feature/x%20y"},
		{"a GitLab project path is escaped as one segment", "gl", "https://gitlab.com/gesis/notebooks/analysis.git", "v1.0",
			binder + "v2/gl/gesis%2Fnotebooks%2Fanalysis/v1.0"},
		{"a gist keeps user/id", "gist", "https://gist.github.com/bitnik/0123abcd", "",
			binder + "v2/gist/bitnik/0123abcd/HEAD"},
		{"a git URL is escaped whole", "git", "https://git.example.org/group/repo.git", "main",
			binder + "v2/git/https%3A%2F%2Fgit.example.org%2Fgroup%2Frepo.git/main"},
		{"characters that would break out of the path are escaped", "gh", `a/"><script>`, "",
			binder + "v2/gh/a/%22%3E%3Cscript%3E/HEAD"},
		{"an empty repository makes no URL", "gh", "  ", "", ""},
		{"an unknown provider makes no URL", "zenodo", "10.5281/zenodo.3242074", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LaunchURL(binder, tt.provider, tt.repo, tt.ref); got != tt.want {
				t.Errorf("LaunchURL(%q, %q, %q) = %q, want %q", tt.provider, tt.repo, tt.ref, got, tt.want)
			}
		})
	}
}

func TestProjectLaunchURL(t *testing.T) {
	tests := []struct {
		name, repoURL, commit, want string
	}{
		{"a GitHub repository launches at its recorded commit: the same code and image", "https://github.com/binder-examples/requirements",
			"1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d", binder + "v2/gh/binder-examples/requirements/1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d"},
		{"without a recorded commit it launches HEAD", "https://github.com/binder-examples/requirements", "",
			binder + "v2/gh/binder-examples/requirements/HEAD"},
		{"a recorded branch name is escaped per segment", "https://github.com/a/b", "feature/x y",
			binder + "v2/gh/a/b/feature/x%20y"},
		{"www and .git do not matter", "https://www.github.com/binder-examples/requirements.git", "",
			binder + "v2/gh/binder-examples/requirements/HEAD"},
		{"a GitHub URL with a tree path launches the repository", "https://github.com/a/b/tree/main/docs", "",
			binder + "v2/gh/a/b/HEAD"},
		{"a gist launches through the gist provider", "https://gist.github.com/bitnik/0123abcd.git", "",
			binder + "v2/gist/bitnik/0123abcd/HEAD"},
		{"a gitlab.com project keeps its groups and drops /-/ paths", "https://gitlab.com/gesis/notebooks/analysis/-/tree/main", "",
			binder + "v2/gl/gesis%2Fnotebooks%2Fanalysis/HEAD"},
		{"a gitlab.com project launches at its recorded commit", "https://gitlab.com/gesis/notebooks/analysis.git", "5f4e3d2c1b0a99887766554433221100ffeeddcc",
			binder + "v2/gl/gesis%2Fnotebooks%2Fanalysis/5f4e3d2c1b0a99887766554433221100ffeeddcc"},
		{"another host launches through the git provider", "https://git.example.org/group/repo.git", "",
			binder + "v2/git/https%3A%2F%2Fgit.example.org%2Fgroup%2Frepo.git/HEAD"},
		{"a hostile GitHub URL stays inside its path segments", hostileURL, "",
			binder + "v2/gh/a/%22%3E%3Cscript%3Ewindow.pwned%3D1%3Bdocument.title%3D%27pwned%27%3Balert%281%29%3C/HEAD"},
		{"a DOI cannot be launched from the list", "10.5281/zenodo.3242074", "abc", ""},
		{"a javascript: URL makes no link", "javascript:alert(1)", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProjectLaunchURL(binder, tt.repoURL, tt.commit); got != tt.want {
				t.Errorf("ProjectLaunchURL(%q, %q) = %q, want %q", tt.repoURL, tt.commit, got, tt.want)
			}
		})
	}
}
