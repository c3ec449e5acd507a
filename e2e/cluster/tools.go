package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Versions the harness builds; they must match e2e/tools/*/go.mod.
const (
	KubernetesVersion = "v1.37.2"
	ContainerdVersion = "v2.4.2"
	HelmVersion       = "v4.3.2"
)

// DebianPackages are what the cluster needs from apt: busybox for the images, libseccomp-dev (and gcc,
// pkg-config) for runc, iptables/conntrack/socat/iproute2 for kubelet, CNI and port forwarding,
// e2fsprogs for the small loop-mounted volumes. The Makefile's E2E_DEBS installs the same list before
// any test runs (the teardown check reads iptables before a cluster starts); a test keeps them equal.
var DebianPackages = []string{"busybox-static", "libseccomp-dev", "pkg-config", "gcc", "libc6-dev",
	"iptables", "nftables", "conntrack", "socat", "iproute2", "util-linux", "e2fsprogs"}

// toolBuild is one cached build: a tool module under e2e/tools and the binaries built from it.
type toolBuild struct {
	name   string   // folder under e2e/tools, and the cache key prefix
	env    []string // extra environment
	flags  []string // go build flags
	out    string   // "" = -o DIR/ (names from packages), else the single binary's name
	pkgs   []string
	expect []string // binaries that must exist afterwards
}

const k8sLDFlags = "-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
	" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" +
	" -X k8s.io/component-base/version.gitTreeState=clean"

var toolBuilds = []toolBuild{
	{name: "etcd", out: "etcd", pkgs: []string{"go.etcd.io/etcd/server/v3"}, expect: []string{"etcd"}},
	{name: "cni", env: []string{"CGO_ENABLED=0"}, pkgs: []string{
		"github.com/containernetworking/plugins/plugins/main/bridge",
		"github.com/containernetworking/plugins/plugins/main/loopback",
		"github.com/containernetworking/plugins/plugins/ipam/host-local",
		"github.com/containernetworking/plugins/plugins/meta/portmap",
	}, expect: []string{"bridge", "loopback", "host-local", "portmap"}},
	// runc needs cgo (nsexec) and libseccomp-dev for the seccomp tag.
	{name: "runc", env: []string{"CGO_ENABLED=1"}, flags: []string{"-trimpath", "-tags", "seccomp urfave_cli_no_docs"},
		out: "runc", pkgs: []string{"github.com/opencontainers/runc"}, expect: []string{"runc"}},
	// btrfs/devmapper/zfs snapshotters need C headers we do not want.
	{name: "containerd", env: []string{"CGO_ENABLED=1"}, flags: []string{"-tags", "no_btrfs no_devmapper no_zfs",
		"-ldflags", "-X github.com/containerd/containerd/v2/version.Version=" + ContainerdVersion}, pkgs: []string{
		"github.com/containerd/containerd/v2/cmd/containerd",
		"github.com/containerd/containerd/v2/cmd/ctr",
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
	}, expect: []string{"containerd", "ctr", "containerd-shim-runc-v2"}},
	// One invocation for all five: they share most packages; stamped so kubectl can parse the version.
	{name: "k8s", flags: []string{"-ldflags", k8sLDFlags}, pkgs: []string{
		"k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler",
		"k8s.io/kubernetes/cmd/kubelet",
		"k8s.io/kubernetes/cmd/kubectl",
	}, expect: []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"}},
	helmBuild,
}

// helmBuild is the Helm CLI (the chart's tests and the Helm install), static and stamped with its
// version as Helm's own Makefile does, so that `helm version` and the chart's kubeVersion checks see it.
var helmBuild = toolBuild{name: "helm", env: []string{"CGO_ENABLED=0"}, flags: []string{"-trimpath", "-ldflags",
	"-X helm.sh/helm/v4/internal/version.version=" + HelmVersion + " -X helm.sh/helm/v4/internal/version.gitTreeState=clean"},
	out: "helm", pkgs: []string{"helm.sh/helm/v4/cmd/helm"}, expect: []string{"helm"}}

// Tools are the built binaries.
type Tools struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kubelet, Kubectl string
	Containerd, Ctr, Shim, Runc                                     string
	ContainerdDir                                                   string // holds the shim (containerd finds it in PATH)
	CNIDir                                                          string
	Pause                                                           string // static pause binary
	Helm                                                            string // the Helm v4 CLI
}

// EnsureTools installs the Debian packages and builds every tool that is not yet in the cache. A tool is
// rebuilt only when its go.mod, go.sum, tools.go, build flags or the Go version change.
func EnsureTools(ctx context.Context, p *Progress) (*Tools, error) {
	if err := ensureDebianPackages(ctx, p); err != nil {
		return nil, err
	}
	goVersion, err := output(ctx, "", nil, "go", "env", "GOVERSION")
	if err != nil {
		return nil, err
	}
	dirs := map[string]string{}
	for _, b := range toolBuilds {
		d, err := ensureToolBuild(ctx, p, b, strings.TrimSpace(goVersion))
		if err != nil {
			return nil, err
		}
		dirs[b.name] = d
	}
	pause, err := ensurePause(ctx, p)
	if err != nil {
		return nil, err
	}
	k, c := dirs["k8s"], dirs["containerd"]
	return &Tools{
		Etcd:              filepath.Join(dirs["etcd"], "etcd"),
		APIServer:         filepath.Join(k, "kube-apiserver"),
		ControllerManager: filepath.Join(k, "kube-controller-manager"),
		Scheduler:         filepath.Join(k, "kube-scheduler"),
		Kubelet:           filepath.Join(k, "kubelet"),
		Kubectl:           filepath.Join(k, "kubectl"),
		Containerd:        filepath.Join(c, "containerd"),
		Ctr:               filepath.Join(c, "ctr"),
		Shim:              filepath.Join(c, "containerd-shim-runc-v2"),
		ContainerdDir:     c,
		Runc:              filepath.Join(dirs["runc"], "runc"),
		CNIDir:            dirs["cni"],
		Pause:             pause,
		Helm:              filepath.Join(dirs["helm"], "helm"),
	}, nil
}

// EnsureHelm builds only the Helm CLI (cached like every tool) and returns its path: the chart's tests
// need no cluster, no Debian packages and no Kubernetes build.
func EnsureHelm(ctx context.Context, p *Progress) (string, error) {
	goVersion, err := output(ctx, "", nil, "go", "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	dir, err := ensureToolBuild(ctx, p, helmBuild, strings.TrimSpace(goVersion))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "helm"), nil
}

func toolsDir() string { return filepath.Join(e2eDir(), "tools") }

func ensureToolBuild(ctx context.Context, p *Progress, b toolBuild, goVersion string) (string, error) {
	src := filepath.Join(toolsDir(), b.name)
	h := sha256.New()
	files, err := toolSources(src)
	if err != nil {
		return "", fmt.Errorf("tool module %s: %w", b.name, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", fmt.Errorf("tool module %s: %w", b.name, err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	fmt.Fprintf(h, "go=%s env=%q flags=%q out=%q pkgs=%q\n", goVersion, b.env, b.flags, b.out, b.pkgs)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	binRoot := filepath.Join(CacheDir(), "bin")
	dir := filepath.Join(binRoot, b.name+"-"+key)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		p.Step("build %-10s cached in %s", b.name, dir)
		return dir, nil
	}
	// Tests that need only one tool (the chart's, Helm) build it without the cluster lock: one build of
	// a tool at a time, and whoever waited finds it done.
	if err := os.MkdirAll(binRoot, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, filepath.Join(binRoot, b.name+".lock"), p, "build "+b.name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		p.Step("build %-10s cached in %s (built meanwhile by another process)", b.name, dir)
		return dir, nil
	}
	done := p.LongStart("build %-10s (go build %s, nice -n 10)", b.name, strings.Join(b.expect, " "))
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	out := tmp + string(filepath.Separator)
	if b.out != "" {
		out = filepath.Join(tmp, b.out)
	}
	args := append([]string{"-n", "10", "go", "build"}, b.flags...)
	args = append(args, "-o", out)
	args = append(args, b.pkgs...)
	logFile := filepath.Join(binRoot, b.name+"-build.log")
	if err := runLogged(ctx, src, b.env, logFile, "nice", args...); err != nil {
		done(err)
		return "", fmt.Errorf("building %s (log %s): %w", b.name, logFile, err)
	}
	for _, e := range b.expect {
		if _, err := os.Stat(filepath.Join(tmp, e)); err != nil {
			done(err)
			return "", fmt.Errorf("building %s: %s missing: %w", b.name, e, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	done(nil)
	// Older builds of the same tool are dead weight (the k8s one is ~700 MB).
	if old, _ := filepath.Glob(filepath.Join(binRoot, b.name+"-*")); len(old) > 0 {
		for _, o := range old {
			if o != dir && !strings.HasSuffix(o, ".log") {
				os.RemoveAll(o)
			}
		}
	}
	return dir, nil
}

// toolSources lists what a tool module's build depends on, sorted: go.mod, go.sum and every .go file
// (a tools.go-only module: go.mod, go.sum, tools.go, so its cache key is what it always was; a program
// such as certmanager adds its own sources).
func toolSources(src string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "go.mod" || rel == "go.sum" || strings.HasSuffix(rel, ".go") {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, must := range []string{"go.mod", "go.sum"} {
		if !slices.Contains(files, must) {
			return nil, fmt.Errorf("%s has no %s", src, must)
		}
	}
	sort.Strings(files)
	return files, nil
}

// lockFile takes an exclusive flock on path, waiting (and saying so once) while another process holds
// it; the returned function releases it.
func lockFile(ctx context.Context, path string, p *Progress, what string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return func() { f.Close() }, nil
		}
		if !said {
			p.Step("lock       another process holds %s (%s), waiting for it", path, what)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ensurePause compiles Kubernetes' own pause.c (from the module cache) statically.
func ensurePause(ctx context.Context, p *Progress) (string, error) {
	modDir, err := output(ctx, filepath.Join(toolsDir(), "k8s"), nil, "go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes")
	if err != nil || strings.TrimSpace(modDir) == "" {
		if _, derr := output(ctx, filepath.Join(toolsDir(), "k8s"), nil, "go", "mod", "download", "k8s.io/kubernetes"); derr != nil {
			return "", fmt.Errorf("downloading k8s.io/kubernetes for pause.c: %w", derr)
		}
		if modDir, err = output(ctx, filepath.Join(toolsDir(), "k8s"), nil, "go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"); err != nil {
			return "", err
		}
	}
	src := filepath.Join(strings.TrimSpace(modDir), "build", "pause", "linux", "pause.c")
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("pause.c: %w", err)
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(CacheDir(), "bin", "pause-"+hex.EncodeToString(sum[:])[:16])
	bin := filepath.Join(dir, "pause")
	if _, err := os.Stat(bin); err == nil {
		p.Step("build %-10s cached in %s", "pause", dir)
		return bin, nil
	}
	done := p.Start("build %-10s (gcc -Os -static %s)", "pause", "build/pause/linux/pause.c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := output(ctx, "", nil, "gcc", "-Os", "-static", "-DVERSION="+KubernetesVersion, "-o", bin+".tmp", src); err != nil {
		done(err)
		return "", err
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return "", err
	}
	done(nil)
	return bin, nil
}

func ensureDebianPackages(ctx context.Context, p *Progress) error {
	var missing []string
	for _, pkg := range DebianPackages {
		out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Status}", pkg).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		p.Step("apt        %d Debian packages present", len(DebianPackages))
		return nil
	}
	done := p.LongStart("apt        installing %s", strings.Join(missing, " "))
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	logFile := filepath.Join(CacheDir(), "apt.log")
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return err
	}
	if err := runLogged(ctx, "", env, logFile, "apt-get", "update"); err != nil {
		done(err)
		return fmt.Errorf("apt-get update (log %s): %w", logFile, err)
	}
	args := append([]string{"install", "-y", "--no-install-recommends"}, missing...)
	if err := runLogged(ctx, "", env, logFile, "apt-get", args...); err != nil {
		done(err)
		return fmt.Errorf("apt-get install (log %s): %w", logFile, err)
	}
	done(nil)
	return nil
}

// runLogged runs a command with its output appended to logFile.
func runLogged(ctx context.Context, dir string, env []string, logFile, name string, args ...string) error {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	return cmd.Run()
}

// output runs a command and returns its stdout; the error carries stderr.
func output(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
