// Command image builds binder-projects' container image without Docker and without a registry: the static
// binary, cross-compiled for each platform, in one layer on an empty base, as an OCI image index. It writes
// an OCI image layout directory and one tarball that `ctr images import`, `docker load`, `podman load` and
// `crane push` accept, and prints the index digest. Two runs on one commit give one digest.
//
//	go run . -repo ../.. -out ../../bin/image
//
// It lives in a module of its own so that the webhook's go.mod never carries go-containerregistry.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	var (
		o         options
		platforms string
	)
	flag.StringVar(&o.Repo, "repo", "../..", "the binder-projects checkout to build (its git metadata labels the image)")
	flag.StringVar(&o.Out, "out", "../../bin/image", "folder to write the layout ("+layoutDir+"/) and the tarball ("+tarballName+") into")
	flag.StringVar(&o.Name, "name", defaultName, "image name (without tag) recorded in the layout and tarball for the importing runtime")
	flag.StringVar(&o.Source, "source", defaultSource, "label org.opencontainers.image.source")
	flag.StringVar(&o.Licenses, "licenses", "", "label org.opencontainers.image.licenses, an SPDX expression (left out when empty)")
	flag.StringVar(&o.Version, "version", "", "image version and tag (default: git describe --tags --always --dirty)")
	flag.StringVar(&o.Go, "go", "go", "the go command that compiles the binary")
	flag.StringVar(&platforms, "platforms", strings.Join(defaultPlatforms, ","), "comma-separated os/arch list; the first is the one manifest.json names for docker load")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "image: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	o.Platforms = strings.Split(platforms, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := build(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s\n", filepath.Join(o.Out, layoutDir))
	fmt.Printf("%s\n", filepath.Join(o.Out, tarballName))
	for _, m := range res.Manifests {
		fmt.Printf("  %-12s %s\n", m.Platform, m.Digest)
	}
	fmt.Printf("%s@%s\n", res.Ref, res.Digest)
}
