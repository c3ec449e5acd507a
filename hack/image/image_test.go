package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The image is built twice, each time from a fresh clone of the commit at another path, so that neither
// the working tree's uncommitted edits nor this machine's paths can reach the image. The checks then run
// on the first build.
func TestImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	commit := git(t, repo, "rev-parse", "HEAD")

	var (
		srcs [2]string
		outs [2]string
		ress [2]*result
	)
	for i := range ress {
		srcs[i] = clone(t, repo, commit)
		outs[i] = t.TempDir()
		start := time.Now()
		ress[i], err = build(ctx, options{Repo: srcs[i], Out: outs[i]})
		if err != nil {
			t.Fatalf("build %d: %v", i+1, err)
		}
		t.Logf("build %d: %s in %s", i+1, ress[i].Digest, time.Since(start).Round(time.Second))
	}
	res, out := ress[0], outs[0]

	secs, err := strconv.ParseInt(git(t, srcs[0], "log", "-1", "--format=%ct", commit), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(secs, 0).UTC()
	version := git(t, srcs[0], "describe", "--tags", "--always", "--dirty")
	ref := defaultName + ":" + version

	t.Run("two builds of one commit give one index digest, the same manifests and the same bytes", func(t *testing.T) {
		if diff := cmp.Diff(ress[0], ress[1]); diff != "" {
			t.Errorf("results differ (-first +second):\n%s", diff)
		}
		if a, b := fileHashes(t, outs[0]), fileHashes(t, outs[1]); !cmp.Equal(a, b) {
			t.Errorf("written files differ (-first +second):\n%s", cmp.Diff(a, b))
		}
	})

	t.Run("the image is stamped with the commit, not with the time of the build", func(t *testing.T) {
		want := result{Ref: ref, Created: created, Revision: commit, Version: version}
		got := result{Ref: res.Ref, Created: res.Created, Revision: res.Revision, Version: res.Version}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	lp, err := layout.FromPath(filepath.Join(out, layoutDir))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the layout's index.json names one image index for containerd, Podman and crane", func(t *testing.T) {
		im, err := top.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 1 {
			t.Fatalf("index.json has %d entries, want 1", len(im.Manifests))
		}
		d := im.Manifests[0]
		if d.MediaType != types.OCIImageIndex || d.Digest != res.Digest {
			t.Errorf("index.json points at %s %s, want %s %s", d.MediaType, d.Digest, types.OCIImageIndex, res.Digest)
		}
		want := map[string]string{annotationContainerdName: ref, annotationRefName: ref}
		if diff := cmp.Diff(want, d.Annotations); diff != "" {
			t.Errorf("annotations (-want +got):\n%s", diff)
		}
	})

	idx, err := top.ImageIndex(res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "binder-projects",
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.source":      "https://github.com/binder-projects/binder-projects",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    commit,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}

	t.Run("the layout is consistent: every digest, size and diff ID checks out", func(t *testing.T) {
		if err := validate.Index(idx); err != nil {
			t.Error(err)
		}
	})

	t.Run("the image index holds linux/amd64 and linux/arm64 and carries the labels as annotations", func(t *testing.T) {
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if im.MediaType != types.OCIImageIndex {
			t.Errorf("media type %s", im.MediaType)
		}
		var got []string
		for i, d := range im.Manifests {
			if d.Platform == nil {
				t.Fatalf("manifest %d has no platform", i)
			}
			got = append(got, d.Platform.String())
			if d.Digest != res.Manifests[i].Digest || d.MediaType != types.OCIManifestSchema1 {
				t.Errorf("manifest %d: %s %s, want %s %s", i, d.MediaType, d.Digest, types.OCIManifestSchema1, res.Manifests[i].Digest)
			}
		}
		if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, got); diff != "" {
			t.Errorf("platforms (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(labels, im.Annotations); diff != "" {
			t.Errorf("annotations (-want +got):\n%s", diff)
		}
	})

	for _, pm := range res.Manifests {
		plat, err := v1.ParsePlatform(pm.Platform)
		if err != nil {
			t.Fatal(err)
		}
		img, err := idx.Image(pm.Digest)
		if err != nil {
			t.Fatal(err)
		}

		t.Run(pm.Platform+": the config runs the binary as 65532:65532, with the labels, stamped with the commit time", func(t *testing.T) {
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
				t.Errorf("media types %s, %s", m.MediaType, m.Config.MediaType)
			}
			want := v1.Config{
				User:       "65532:65532",
				Entrypoint: []string{"/usr/local/bin/binder-projects"},
				Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				WorkingDir: "/",
				Labels:     labels,
			}
			if diff := cmp.Diff(want, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if cf.OS != plat.OS || cf.Architecture != plat.Architecture || cf.Variant != "" {
				t.Errorf("platform %s/%s/%s, want %s", cf.OS, cf.Architecture, cf.Variant, plat)
			}
			if !cf.Created.Time.Equal(created) {
				t.Errorf("created %s, want the commit time %s", cf.Created.Time, created)
			}
			if len(cf.History) != 1 || !cf.History[0].Created.Time.Equal(created) {
				t.Errorf("history %+v, want one entry created at %s", cf.History, created)
			}
		})

		t.Run(pm.Platform+": the one layer holds the static binary for the platform and its folders, owned by root, at the commit time", func(t *testing.T) {
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != 1 {
				t.Fatalf("%d layers, want 1", len(layers))
			}
			if mt, err := layers[0].MediaType(); err != nil || mt != types.OCILayer {
				t.Errorf("layer media type %s (%v), want %s", mt, err, types.OCILayer)
			}
			entries, bin := readLayer(t, layers[0])
			want := []entry{
				{"usr/", tar.TypeDir, 0o755},
				{"usr/local/", tar.TypeDir, 0o755},
				{"usr/local/bin/", tar.TypeDir, 0o755},
				{"usr/local/bin/binder-projects", tar.TypeReg, 0o755},
			}
			var got []entry
			for _, h := range entries {
				got = append(got, entry{h.Name, h.Typeflag, h.Mode})
				if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(created) {
					t.Errorf("%s: owner %d:%d (%q:%q), time %s; want 0:0, the commit time %s", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, created)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("layer entries (-want +got):\n%s", diff)
			}
			checkBinary(t, bin, plat.Architecture, []string{repo, srcs[0], srcs[1]})
		})
	}

	t.Run("the tarball holds the layout, and a manifest.json naming linux/amd64 for docker load", func(t *testing.T) {
		tarPath := filepath.Join(out, tarballName)
		f, err := os.Open(tarPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var names []string
		files := map[string][]byte{}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(created) {
				t.Errorf("%s: owner %d:%d, time %s; want 0:0, the commit time", h.Name, h.Uid, h.Gid, h.ModTime)
			}
			if h.Typeflag == tar.TypeReg {
				if files[h.Name], err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(names) < 5 || !cmp.Equal(names[:5], []string{"oci-layout", "index.json", "manifest.json", "blobs/", "blobs/sha256/"}) {
			t.Errorf("tar begins with %q, want oci-layout, index.json, manifest.json, blobs/, blobs/sha256/", names)
		}
		// Everything but manifest.json is the layout, byte for byte.
		fromLayout := map[string][]byte{}
		root := filepath.Join(out, layoutDir)
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			fromLayout[filepath.ToSlash(rel)], err = os.ReadFile(p)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		manifestJSON := files["manifest.json"]
		delete(files, "manifest.json")
		if len(files) != len(fromLayout) {
			t.Errorf("the tarball has %d files besides manifest.json, the layout %d", len(files), len(fromLayout))
		}
		for name, want := range fromLayout {
			if got, ok := files[name]; !ok || !bytes.Equal(got, want) {
				t.Errorf("%s: not in the tarball as it is in the layout", name)
			}
		}

		var dm tarball.Manifest
		if err := json.Unmarshal(manifestJSON, &dm); err != nil {
			t.Fatalf("manifest.json: %v", err)
		}
		amd64, err := idx.Image(res.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := amd64.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		layers, err := amd64.Layers()
		if err != nil {
			t.Fatal(err)
		}
		ld, err := layers[0].Digest()
		if err != nil {
			t.Fatal(err)
		}
		want := tarball.Manifest{{Config: "blobs/sha256/" + cfg.Hex, RepoTags: []string{ref}, Layers: []string{"blobs/sha256/" + ld.Hex}}}
		if diff := cmp.Diff(want, dm); diff != "" {
			t.Errorf("manifest.json (-want +got):\n%s", diff)
		}

		// crane push and other go-containerregistry users read the tarball through manifest.json. (The
		// blobs' contents were validated above, in the layout.)
		timg, err := tarball.ImageFromPath(tarPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(timg, validate.Fast); err != nil {
			t.Error(err)
		}
		if got, err := timg.ConfigName(); err != nil || got != cfg {
			t.Errorf("the tarball's image has config %s (%v), want %s", got, err, cfg)
		}
	})
}

type entry struct {
	Name string
	Type byte
	Mode int64
}

// readLayer returns the layer's tar headers and the content of its one regular file.
func readLayer(t *testing.T, l v1.Layer) ([]*tar.Header, []byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var hs []*tar.Header
	var bin []byte
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs, bin
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		if h.Typeflag == tar.TypeReg {
			if bin, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkBinary checks that the binary is a static ELF executable for arch, built without cgo, with
// -trimpath and no VCS stamp, and that no path of this machine is in it.
func checkBinary(t *testing.T, bin []byte, arch string, paths []string) {
	t.Helper()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("not ELF: %v", err)
	}
	if f.Machine != machine || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("ELF %s %s %s, want %s %s %s", f.Machine, f.Class, f.Type, machine, elf.ELFCLASS64, elf.ET_EXEC)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("dynamically linked: has %s", p.Type)
		}
	}
	tmp := filepath.Join(t.TempDir(), "binder-projects")
	if err := os.WriteFile(tmp, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Path != "github.com/binder-projects/binder-projects/cmd/binder-projects" {
		t.Errorf("main package %s", bi.Path)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
		if strings.HasPrefix(s.Key, "vcs") {
			t.Errorf("VCS stamp %s=%s", s.Key, s.Value)
		}
	}
	// Under -trimpath, go build does not record -ldflags.
	want := map[string]string{"GOOS": "linux", "GOARCH": arch, "CGO_ENABLED": "0", "-trimpath": "true"}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
		}
	}
	for _, p := range paths {
		if bytes.Contains(bin, []byte(p)) {
			t.Errorf("the binary holds this machine's path %s", p)
		}
	}
}

// clone checks commit out into a fresh folder; --shared borrows the objects, so it costs little.
func clone(t *testing.T, repo, commit string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "binder-projects")
	git(t, "", "clone", "--quiet", "--shared", "--no-checkout", repo, dir)
	git(t, dir, "checkout", "--quiet", "--detach", commit)
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// fileHashes maps every file under dir to its SHA-256.
func fileHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	hs := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		hs[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hs
}
