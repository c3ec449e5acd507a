package cluster

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"testing"
)

func TestImageTarIsAnOCILayoutNamedForContainerd(t *testing.T) {
	t.Setenv("BINDER_PROJECTS_CACHE", t.TempDir())
	p, err := ensureImageTar(RepoA)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
		if h.Name == "index.json" {
			var idx struct {
				Manifests []struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"manifests"`
			}
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				t.Fatal(err)
			}
			if got := idx.Manifests[0].Annotations["io.containerd.image.name"]; got != RepoA.Name {
				t.Errorf("io.containerd.image.name = %q, want %q", got, RepoA.Name)
			}
		}
	}
	for _, want := range []string{"oci-layout", "index.json"} {
		if !names[want] {
			t.Errorf("%s missing from the layout", want)
		}
	}
	if len(names) != 7 { // blobs/, blobs/sha256/, oci-layout, index.json, manifest, config, layer
		t.Errorf("layout entries: %v", names)
	}
}
