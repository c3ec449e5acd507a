package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Our image in containerd: `make image`'s tarball (hack/image, for this machine's platform), named as
// a registry would serve it. The webhook on the host names it as --helper-image: the project's init
// container runs the init command of that image's binary.
const (
	OurImageRepo = "docker.io/library/binder-projects"
	OurImageTag  = "e2e"
	OurImage     = OurImageRepo + ":" + OurImageTag
)

// ImportOurImage builds the image an operator gets and imports it into containerd as an operator's
// runtime would pull it; once per cluster.
func (c *Cluster) ImportOurImage(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ourImage {
		return nil
	}
	dir, err := os.MkdirTemp("", "binder-projects-e2e-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	t0 := time.Now()
	build := exec.CommandContext(ctx, "nice", "-n", "10", "go", "run", ".", "-repo", RepoRoot(), "-out", dir,
		"-platforms", "linux/"+runtime.GOARCH, "-name", OurImageRepo, "-version", OurImageTag)
	build.Dir = filepath.Join(RepoRoot(), "hack", "image")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building our image: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	if c.p != nil {
		c.p.Step("image      built %s in %s", OurImage, time.Since(t0).Round(100*time.Millisecond))
	}
	if err := c.ImportImageTar(ctx, filepath.Join(dir, "binder-projects.tar")); err != nil {
		return err
	}
	c.ourImage = true
	return nil
}
