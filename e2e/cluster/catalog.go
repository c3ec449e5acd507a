package cluster

import (
	"fmt"
	"os"
)

// The images every cluster gets. The repository images imitate what repo2docker builds: the repository's
// files in /home/jovyan owned by 1000:100 (dotfiles, nested folders, a symlink, the binder/ folder), a
// file that binder/postBuild made, the image's USER 1000, and repo2docker's entrypoint. Their
// `jupyterhub-singleuser` is a stand-in that stays up until SIGTERM.
var (
	PauseImageName = "registry.local/binder-projects/pause:3.10-e2e"

	// RepoA is https://github.com/binder-examples/requirements at its first commit.
	RepoA = repoImage("registry.local/binder-projects/binder-examples-requirements:commit1", "https://github.com/binder-examples/requirements", []File{
		homeFile("README.md", "# requirements\nRepository A, commit 1\n"),
		homeFile("requirements.txt", "numpy==2.1.0\n"),
		homeFile("index.ipynb", `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`+"\n"),
		homeFile(".gitignore", ".ipynb_checkpoints/\n"),
		homeFile("binder/postBuild", "#!/bin/sh\necho \"postBuild ran\" > \"$HOME/.postbuild-ran\"\n"),
		homeFile(".postbuild-ran", "postBuild ran (repository A, commit 1)\n"),
		homeFile("analysis/data/measurements.csv", "t,value\n0,1.5\n1,2.5\n"),
		homeFile("analysis/report.md", "# Report\n"),
		homeLink("latest.csv", "analysis/data/measurements.csv"),
	})
	// RepoANewCommit is the same repository after a new commit: different files in the image.
	RepoANewCommit = repoImage("registry.local/binder-projects/binder-examples-requirements:commit2", "https://github.com/binder-examples/requirements", []File{
		homeFile("README.md", "# requirements\nRepository A, commit 2\n"),
		homeFile("requirements.txt", "numpy==2.2.0\npandas\n"),
		homeFile("CHANGELOG.md", "commit 2\n"),
		homeFile("binder/postBuild", "#!/bin/sh\necho \"postBuild ran\" > \"$HOME/.postbuild-ran\"\n"),
		homeFile(".postbuild-ran", "postBuild ran (repository A, commit 2)\n"),
	})
	// RepoB is a second repository.
	RepoB = repoImage("registry.local/binder-projects/binder-examples-conda:commit1", "https://github.com/binder-examples/conda", []File{
		homeFile("README.md", "# conda\nRepository B\n"),
		homeFile("environment.yml", "dependencies:\n  - python=3.12\n"),
		homeFile(".condarc", "channels: [conda-forge]\n"),
		homeFile("src/model/train.py", "print('training')\n"),
		homeFile(".postbuild-ran", "postBuild ran (repository B)\n"),
		homeLink("code", "src"),
	})
	// RepoLarge has a large home (many files, tens of MB) so a copy can be killed halfway.
	RepoLarge = repoImage("registry.local/binder-projects/large-home:commit1", "https://github.com/binder-examples/large-home", largeHome())
	// NetworkToolsStandIn replaces z2jh's quay.io/jupyterhub/k8s-network-tools for the
	// block-cloud-metadata init container: its `iptables` only records that it ran (in the
	// container's termination message) instead of changing the node's firewall.
	NetworkToolsStandIn = Image{
		Name: "registry.local/jupyterhub/k8s-network-tools:4.2.0-e2e-stand-in", Busybox: true,
		Files: []File{{Path: "/usr/sbin/iptables", Mode: 0o755, Content: "#!/bin/sh\n" +
			"# stand-in for z2jh's block-cloud-metadata: record the call, change nothing\n" +
			"echo \"block-cloud-metadata stand-in ran: iptables $*\" | tee /dev/termination-log\n"}},
	}
)

// BlockCloudMetadataMessage is what the stand-in writes to its termination message (prefix).
const BlockCloudMetadataMessage = "block-cloud-metadata stand-in ran"

// StandardImages are imported into every cluster.
func StandardImages() []Image {
	return []Image{RepoA, RepoANewCommit, RepoB, RepoLarge, NetworkToolsStandIn}
}

// LargeHomeFiles and LargeHomeFileSize describe RepoLarge's big/ folder.
const (
	LargeHomeFiles    = 6000
	LargeHomeFileSize = 6 << 10
)

func largeHome() []File {
	files := []File{
		homeFile("README.md", "# large home\n"),
		homeFile(".postbuild-ran", "postBuild ran (large home)\n"),
	}
	for i := 0; i < LargeHomeFiles; i++ {
		files = append(files, File{Path: fmt.Sprintf("/home/jovyan/big/part-%03d/file-%05d.bin", i/100, i), Mode: 0o644, UID: 1000, GID: 100, Size: LargeHomeFileSize})
	}
	for i := 0; i < 4; i++ {
		files = append(files, File{Path: fmt.Sprintf("/home/jovyan/big/blob-%d.bin", i), Mode: 0o644, UID: 1000, GID: 100, Size: 8 << 20})
	}
	return files
}

func homeFile(rel, content string) File {
	mode := os.FileMode(0o644)
	if len(content) > 2 && content[:2] == "#!" {
		mode = 0o755
	}
	return File{Path: "/home/jovyan/" + rel, Mode: mode, UID: 1000, GID: 100, Content: content}
}

func homeLink(rel, target string) File {
	return File{Path: "/home/jovyan/" + rel, UID: 1000, GID: 100, Link: target}
}

// repoImage makes a repo2docker-like image: busybox, /home/jovyan (and every folder in it) owned by
// 1000:100, the given files, repo2docker's entrypoint and a stand-in jupyterhub-singleuser.
func repoImage(name, repoURL string, files []File) Image {
	all := []File{
		{Path: "/home", Dir: true, Mode: 0o755},
		{Path: "/home/jovyan", Dir: true, Mode: 0o755, UID: 1000, GID: 100},
		{Path: "/usr/local/bin/repo2docker-entrypoint", Mode: 0o755, Content: "#!/bin/sh\n# stand-in for repo2docker's entrypoint\nexec \"$@\"\n"},
		{Path: "/usr/local/bin/jupyterhub-singleuser", Mode: 0o755, Content: "#!/bin/sh\n" +
			"# stand-in for the Jupyter server: stays up, stops at once on SIGTERM\n" +
			"trap 'echo stopping; exit 0' TERM INT\n" +
			"echo \"jupyterhub-singleuser stand-in for $BINDER_REPO_URL, HOME=$HOME, uid=$(id -u)\"\n" +
			"while :; do sleep 3600 & wait $!; done\n"},
	}
	dirs := map[string]bool{}
	for _, f := range files {
		for d := parentDir(f.Path); d != "/home/jovyan" && d != "/" && !dirs[d]; d = parentDir(d) {
			dirs[d] = true
			all = append(all, File{Path: d, Dir: true, Mode: 0o755, UID: 1000, GID: 100})
		}
	}
	all = append(all, files...)
	return Image{
		Name: name, Busybox: true, Files: all,
		Entrypoint: []string{"/usr/local/bin/repo2docker-entrypoint"},
		Cmd:        []string{"jupyter", "notebook", "--ip", "0.0.0.0"},
		User:       "1000", WorkingDir: "/home/jovyan",
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/jovyan",
			"NB_USER=jovyan", "NB_UID=1000", "SHELL=/bin/sh", "REPO_URL=" + repoURL},
	}
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}

func pauseImage(pauseBin string) (Image, error) {
	data, err := os.ReadFile(pauseBin)
	if err != nil {
		return Image{}, err
	}
	return Image{Name: PauseImageName, Files: []File{{Path: "/pause", Mode: 0o755, Content: string(data)}},
		Entrypoint: []string{"/pause"}, User: "65535:65535"}, nil
}
