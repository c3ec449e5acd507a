package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type platformImage struct {
	Platform v1.Platform
	Image    v1.Image
}

// newImage is an OCI image of one layer, the binary, on an empty base (FROM scratch), stamped with the
// commit time.
func newImage(binary string, plat v1.Platform, created time.Time, labels map[string]string) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	layer, err := binaryLayer(data, created)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "hack/image: COPY binder-projects " + binaryPath,
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = plat.OS, plat.Architecture
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: []string{binaryPath},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		WorkingDir: "/",
		Labels:     labels,
	}
	return mutate.ConfigFile(img, cf)
}

// layerDirs are the binary's parent folders, given explicitly so that their owner and mode do not depend
// on the runtime that unpacks the layer.
var layerDirs = []string{"usr/", "usr/local/", "usr/local/bin/"}

// binaryLayer is a gzip-compressed tar of the binary and its parent folders, owned by root (the non-root
// user can run the binary but not change it), every time the commit time, nothing taken from the
// file system but the binary's bytes.
func binaryLayer(binary []byte, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Format = mtime, tar.FormatUSTAR
		return tw.WriteHeader(h)
	}
	for _, d := range layerDirs {
		if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	name := strings.TrimPrefix(binaryPath, "/")
	if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(binary))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.DefaultCompression), // level 9: 3x the time for 0.4% less
		tarball.WithCompressedCaching)
}

// newIndex is the OCI image index over the platforms' images, in the order given, each with its platform,
// carrying the labels as annotations too (registries show an index's annotations).
func newIndex(imgs []platformImage, annotations map[string]string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, pi := range imgs {
		plat := pi.Platform
		adds = append(adds, mutate.IndexAddendum{Add: pi.Image, Descriptor: v1.Descriptor{Platform: &plat}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	idx, ok := mutate.Annotations(idx, annotations).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("annotated index is no index")
	}
	return idx, nil
}
