package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one entry of an image's filesystem. Exactly one of Content, Size, Link or Dir applies.
type File struct {
	Path    string // absolute, inside the image
	Mode    os.FileMode
	UID     int
	GID     int
	Content string
	Size    int64  // generated deterministic content of this size (big images)
	Link    string // symlink target
	Dir     bool
}

// Image is an image built locally as an OCI image layout, with one uncompressed layer.
type Image struct {
	Name       string // fully qualified, e.g. registry.local/binder-projects/repo-a:v1
	Files      []File
	Busybox    bool // add Debian's busybox-static at /bin/busybox with every applet linked
	Entrypoint []string
	Cmd        []string
	User       string
	WorkingDir string
	Env        []string
}

var imageTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// HomeFiles returns the regular files and symlinks under /home/jovyan, relative to it, with their
// content (symlinks as "-> target"); for checking what a project folder must hold.
func (img Image) HomeFiles() map[string]string {
	out := map[string]string{}
	for _, f := range img.Files {
		rel, ok := strings.CutPrefix(f.Path, "/home/jovyan/")
		if !ok || f.Dir {
			continue
		}
		switch {
		case f.Link != "":
			out[rel] = "-> " + f.Link
		case f.Size > 0:
			out[rel] = fmt.Sprintf("<%d bytes>", f.Size)
		default:
			out[rel] = f.Content
		}
	}
	return out
}

// ensureImageTar writes the image's OCI layout tar into the cache (once per content) and returns its path.
func ensureImageTar(img Image) (string, error) {
	busybox := ""
	if img.Busybox {
		busybox = "/bin/busybox"
	}
	spec, _ := json.Marshal(img)
	h := sha256.New()
	h.Write(spec)
	if busybox != "" {
		data, err := os.ReadFile(busybox)
		if err != nil {
			return "", fmt.Errorf("busybox-static: %w", err)
		}
		h.Write(data)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	safe := strings.NewReplacer("/", "_", ":", "_").Replace(img.Name)
	dir := filepath.Join(CacheDir(), "images")
	out := filepath.Join(dir, safe+"-"+key+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := append([]File(nil), img.Files...)
	if busybox != "" {
		bb, err := busyboxFiles()
		if err != nil {
			return "", err
		}
		files = append(bb, files...)
	}
	if err := writeOCILayout(out, img, files); err != nil {
		os.Remove(out)
		return "", err
	}
	// drop older tars of the same image
	if old, _ := filepath.Glob(filepath.Join(dir, safe+"-*.tar")); len(old) > 1 {
		for _, o := range old {
			if o != out {
				os.Remove(o)
			}
		}
	}
	return out, nil
}

// busyboxFiles is /bin/busybox plus a symlink for every applet, and the skeleton of a Debian-ish root.
func busyboxFiles() ([]File, error) {
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox-static: %w", err)
	}
	list, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	files := []File{
		{Path: "/bin", Dir: true, Mode: 0o755}, {Path: "/sbin", Dir: true, Mode: 0o755},
		{Path: "/usr/bin", Dir: true, Mode: 0o755}, {Path: "/usr/sbin", Dir: true, Mode: 0o755},
		{Path: "/usr/local/bin", Dir: true, Mode: 0o755},
		{Path: "/etc", Dir: true, Mode: 0o755}, {Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/tmp", Dir: true, Mode: 0o1777 | os.ModeSticky}, {Path: "/var/tmp", Dir: true, Mode: 0o1777 | os.ModeSticky},
		{Path: "/proc", Dir: true, Mode: 0o555}, {Path: "/sys", Dir: true, Mode: 0o555}, {Path: "/dev", Dir: true, Mode: 0o755},
		{Path: "/bin/busybox", Mode: 0o755, Content: string(data)},
		{Path: "/etc/passwd", Mode: 0o644, Content: "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100:jovyan:/home/jovyan:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{Path: "/etc/group", Mode: 0o644, Content: "root:x:0:\nusers:x:100:jovyan\nnogroup:x:65534:\n"},
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "bin/busybox" {
			continue
		}
		files = append(files, File{Path: "/" + a, Link: "/bin/busybox"})
	}
	return files, nil
}

// writeOCILayout writes an OCI image layout tar: oci-layout, index.json (annotated with
// io.containerd.image.name so `ctr images import` names it), the manifest, config and layer blobs.
func writeOCILayout(out string, img Image, files []File) error {
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	layerPath := filepath.Join(tmpDir, "layer.tar")
	diffID, layerSize, err := writeLayer(layerPath, files)
	if err != nil {
		return err
	}
	env := img.Env
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	config := map[string]any{
		"architecture": "amd64", "os": "linux", "created": imageTime.Format(time.RFC3339),
		"config":  map[string]any{"Env": env, "Entrypoint": img.Entrypoint, "Cmd": img.Cmd, "User": img.User, "WorkingDir": img.WorkingDir},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
		"history": []map[string]string{{"created": imageTime.Format(time.RFC3339), "created_by": "binder-projects e2e harness"}},
	}
	configJSON, _ := json.Marshal(config)
	configDigest := sha256Hex(configJSON)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + configDigest, "size": len(configJSON)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + diffID, "size": layerSize}},
	})
	manifestDigest := sha256Hex(manifest)
	tag := img.Name[strings.LastIndex(img.Name, ":")+1:]
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + manifestDigest, "size": len(manifest),
			"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": img.Name, "org.opencontainers.image.ref.name": tag},
		}},
	})
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: imageTime, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: imageTime, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	if err := add("blobs/sha256/"+manifestDigest, manifest); err != nil {
		return err
	}
	if err := add("blobs/sha256/"+configDigest, configJSON); err != nil {
		return err
	}
	lf, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + diffID, Mode: 0o644, Size: layerSize, ModTime: imageTime, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// writeLayer writes the layer tar (parents first, sorted) and returns its sha256 and size.
func writeLayer(p string, files []File) (string, int64, error) {
	f, err := os.Create(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	tw := tar.NewWriter(cw)
	// implicit parent directories, root-owned 0755 unless listed
	byPath := map[string]File{}
	for _, fl := range files {
		byPath[path.Clean(fl.Path)] = fl
	}
	for _, fl := range files {
		for d := path.Dir(path.Clean(fl.Path)); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = File{Path: d, Dir: true, Mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fl := byPath[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Uid: fl.UID, Gid: fl.GID, ModTime: imageTime, Mode: int64(fl.Mode.Perm())}
		if fl.Mode&os.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		switch {
		case fl.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case fl.Link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, fl.Link, 0o777
		case fl.Size > 0:
			hdr.Typeflag, hdr.Size = tar.TypeReg, fl.Size
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(fl.Content))
		}
		if hdr.Mode == 0 && hdr.Typeflag != tar.TypeSymlink {
			hdr.Mode = 0o644
			if fl.Dir {
				hdr.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", 0, err
		}
		switch {
		case fl.Size > 0:
			if err := writePattern(tw, p, fl.Size); err != nil {
				return "", 0, err
			}
		case hdr.Typeflag == tar.TypeReg:
			if _, err := io.WriteString(tw, fl.Content); err != nil {
				return "", 0, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, f.Close()
}

// writePattern writes size deterministic bytes derived from the file's path.
func writePattern(w io.Writer, seed string, size int64) error {
	block := bytes.Repeat([]byte(fmt.Sprintf("%s\n", seed)), 4096/(len(seed)+1)+1)[:4096]
	for size > 0 {
		n := min(size, int64(len(block)))
		if _, err := w.Write(block[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ImportImageTar imports an image tarball (an OCI layout tar, as `make image` writes) into
// containerd's k8s.io namespace, where kubelet finds it.
func (c *Cluster) ImportImageTar(ctx context.Context, tarPath string) error {
	if _, err := output(ctx, "", nil, c.tools.Ctr, "--address", c.l.sock(), "-n", "k8s.io", "images", "import", tarPath); err != nil {
		return fmt.Errorf("importing %s: %w", tarPath, err)
	}
	return nil
}

// ImportImage builds the image (cached) and imports it into containerd's k8s.io namespace.
func (c *Cluster) ImportImage(ctx context.Context, img Image) error {
	tarPath, err := ensureImageTar(img)
	if err != nil {
		return fmt.Errorf("building image %s: %w", img.Name, err)
	}
	if _, err := output(ctx, "", nil, c.tools.Ctr, "--address", c.l.sock(), "-n", "k8s.io", "images", "import", tarPath); err != nil {
		return fmt.Errorf("importing image %s: %w", img.Name, err)
	}
	return nil
}
