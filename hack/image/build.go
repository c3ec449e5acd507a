package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	defaultName   = "ghcr.io/binder-projects/binder-projects"
	defaultSource = "https://github.com/binder-projects/binder-projects"
	title         = "binder-projects"
	description   = "A mutating admission webhook that gives a stock BinderHub persistent storage with one folder per project"

	// binaryPath is where the binary sits in the image, and the entrypoint.
	binaryPath = "/usr/local/bin/binder-projects"
	// user is the image's user: numeric, so that no /etc/passwd is needed and the kubelet can check
	// runAsNonRoot; 65532 is distroless' "nonroot".
	user = "65532:65532"

	layoutDir   = "oci"
	tarballName = "binder-projects.tar"
)

var defaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// options are what a build is made from; the zero value of each optional field means "from git".
type options struct {
	Repo      string   // the checkout to build
	Out       string   // where the layout and the tarball go
	Name      string   // image name without tag
	Source    string   // org.opencontainers.image.source
	Licenses  string   // org.opencontainers.image.licenses; empty leaves the label out
	Version   string   // tag and org.opencontainers.image.version; empty: git describe
	Platforms []string // os/arch; the first is the one manifest.json names
	Go        string   // the go command; empty: "go"
}

// result is what a build produced.
type result struct {
	Ref       string  // name:tag, as recorded for the importing runtime
	Digest    v1.Hash // the image index
	Manifests []platformManifest
	Created   time.Time
	Revision  string
	Version   string
}

type platformManifest struct {
	Platform string
	Digest   v1.Hash
}

// build compiles the binary for every platform, assembles the image index and writes it out.
func build(ctx context.Context, o options) (*result, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Name == "" {
		o.Name = defaultName
	}
	if o.Source == "" {
		o.Source = defaultSource
	}
	if len(o.Platforms) == 0 {
		o.Platforms = defaultPlatforms
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, err
	}
	m, err := gitMeta(ctx, repo, o.Version)
	if err != nil {
		return nil, err
	}
	// Fully qualified, as containerd and the kubelet name images (docker.io/library/x, not x), and kept as
	// written: go-containerregistry would spell docker.io as index.docker.io.
	ref := o.Name + ":" + m.Version
	if _, err := name.NewTag(ref, name.StrictValidation); err != nil {
		return nil, fmt.Errorf("image reference %q (a registry in -name, a tag from the version): %w", ref, err)
	}

	tmp, err := os.MkdirTemp("", "binder-projects-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	labels := map[string]string{
		"org.opencontainers.image.title":       title,
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.created":     m.Created.Format(time.RFC3339),
	}
	if o.Licenses != "" {
		labels["org.opencontainers.image.licenses"] = o.Licenses
	}

	var imgs []platformImage
	for _, p := range o.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		if plat.OS != "linux" || plat.Variant != "" {
			return nil, fmt.Errorf("platform %q: only linux/<arch> is built", p)
		}
		bin := filepath.Join(tmp, "binder-projects-"+plat.OS+"-"+plat.Architecture)
		if err := goBuild(ctx, o.Go, repo, bin, *plat, m.Version); err != nil {
			return nil, err
		}
		img, err := newImage(bin, *plat, m.Created, labels)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		imgs = append(imgs, platformImage{Platform: *plat, Image: img})
	}
	idx, err := newIndex(imgs, labels)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	layout := filepath.Join(o.Out, layoutDir)
	if err := writeLayout(layout, idx, ref); err != nil {
		return nil, fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := writeTarball(filepath.Join(o.Out, tarballName), layout, imgs[0].Image, ref, m.Created); err != nil {
		return nil, fmt.Errorf("writing the tarball: %w", err)
	}

	res := &result{Ref: ref, Created: m.Created, Revision: m.Revision, Version: m.Version}
	if res.Digest, err = idx.Digest(); err != nil {
		return nil, err
	}
	for _, pi := range imgs {
		d, err := pi.Image.Digest()
		if err != nil {
			return nil, err
		}
		res.Manifests = append(res.Manifests, platformManifest{Platform: pi.Platform.String(), Digest: d})
	}
	return res, nil
}

// meta is what git says about the checkout.
type meta struct {
	Version  string    // git describe, or the -version flag
	Revision string    // the full commit hash
	Created  time.Time // the commit time: a build of one commit is stamped alike whenever it runs
}

func gitMeta(ctx context.Context, repo, version string) (meta, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	var m meta
	var err error
	if m.Revision, err = git("rev-parse", "HEAD"); err != nil {
		return m, err
	}
	ct, err := git("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return m, err
	}
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return m, fmt.Errorf("commit time %q: %w", ct, err)
	}
	m.Created = time.Unix(secs, 0).UTC()
	m.Version = version
	if m.Version == "" {
		if m.Version, err = git("describe", "--tags", "--always", "--dirty"); err != nil {
			return m, err
		}
	}
	return m, nil
}

// goBuild cross-compiles the static binary for one platform. Everything that reaches the bytes is pinned
// here rather than taken from the caller's environment: no cgo, no paths of this machine (-trimpath), no
// VCS stamp (the commit is in the labels and the version), the baseline instruction set, and no go.work.
// What is left is the Go toolchain's version, recorded in the binary. -X main.version stamps the version
// into a `var version string` of cmd/binder-projects; the linker ignores it while there is none.
func goBuild(ctx context.Context, goCmd, repo, out string, plat v1.Platform, version string) error {
	cmd := exec.CommandContext(ctx, goCmd, "build",
		"-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+version,
		"-o", out, "./cmd/binder-projects")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=", "GOWORK=off")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("go build for %s failed", plat)
		}
		return err
	}
	return nil
}
