package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	// annotationContainerdName is the full image name `ctr images import` and Docker's containerd image
	// store give the image.
	annotationContainerdName = "io.containerd.image.name"
	// annotationRefName is the OCI layout's name for the image. Full, not a bare tag: Podman names the
	// loaded image after it (a bare tag "v1" would become localhost/v1:latest).
	annotationRefName = "org.opencontainers.image.ref.name"
)

// writeLayout writes the OCI image layout: oci-layout, index.json naming the image index (ref), and the
// blobs. A layout left by an earlier build is replaced, so no stale blob stays behind.
func writeLayout(dir string, idx v1.ImageIndex, ref string) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationContainerdName: ref,
		annotationRefName:        ref,
	})); err != nil {
		return err
	}
	// go-containerregistry leaves layers 0600 and the rest 0755 (less the umask): make them what a layout
	// for others to read wants.
	err = filepath.WalkDir(tmp, func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(name, 0o755)
		default:
			return os.Chmod(name, 0o644)
		}
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// writeTarball writes one tar that every consumer takes: the OCI layout's files (containerd, Podman,
// Docker's containerd image store and crane read index.json) plus a manifest.json naming one image, the
// first platform's (Docker's classic image store and crane's tarball reader need manifest.json, and
// both take one image per tag). Its entries come in a fixed order with fixed owners, modes and times, so
// the tar is byte-for-byte reproducible too.
func writeTarball(dst, layoutDir string, dockerImage v1.Image, ref string, mtime time.Time) error {
	manifestJSON, err := dockerManifest(dockerImage, ref)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	header := func(name string, typ byte, mode, size int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: mtime, Format: tar.FormatUSTAR})
	}
	addFile := func(name string) error {
		src, err := os.Open(filepath.Join(layoutDir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		defer src.Close()
		st, err := src.Stat()
		if err != nil {
			return err
		}
		if err := header(name, tar.TypeReg, 0o644, st.Size()); err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		return err
	}

	for _, name := range []string{"oci-layout", "index.json"} {
		if err := addFile(name); err != nil {
			return err
		}
	}
	if err := header("manifest.json", tar.TypeReg, 0o644, int64(len(manifestJSON))); err != nil {
		return err
	}
	if _, err := tw.Write(manifestJSON); err != nil {
		return err
	}
	// fs.WalkDir goes in lexical order.
	err = fs.WalkDir(os.DirFS(layoutDir), "blobs", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return header(name+"/", tar.TypeDir, 0o755, 0)
		case d.Type().IsRegular():
			return addFile(name)
		default:
			return fmt.Errorf("%s: not a file or folder", name)
		}
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// dockerManifest is the manifest.json of `docker save`, pointing at the layout's blobs.
func dockerManifest(img v1.Image, ref string) ([]byte, error) {
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	d := tarball.Descriptor{Config: blobPath(cfg), RepoTags: []string{ref}}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return nil, err
		}
		d.Layers = append(d.Layers, blobPath(h))
	}
	return json.Marshal(tarball.Manifest{d})
}

func blobPath(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }
