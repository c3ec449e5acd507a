package cluster

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// HostState is what a cluster can leave behind on the host, in comparable form.
type HostState struct {
	Processes []string // processes running one of our binaries or living in a pod/container cgroup
	Mounts    []string // mount points
	Cgroups   []string // top-level cgroup folders of every hierarchy, and any kubepods/k8s.io folder
	IPTables  []string // iptables-save/ip6tables-save lines (counters stripped)
	Links     []string // network interfaces
	Paths     []string // the host paths kubelet and containerd hard-code, where they exist
}

// hostPaths are created by kubelet/containerd outside the scratch folder (recipe pitfall P6).
var hostPaths = []string{"/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/log/containers", "/var/log/pods",
	"/run/containerd", "/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc", "/run/netns",
	"/var/lib/cni", "/etc/cni", "/opt/cni", "/var/lib/containerd", "/opt/containerd"}

// CaptureHostState snapshots the host.
func CaptureHostState() (HostState, error) {
	var s HostState
	var err error
	if s.Processes, err = ourProcesses(); err != nil {
		return s, err
	}
	if s.Mounts, err = mountPoints(); err != nil {
		return s, err
	}
	s.Cgroups = cgroupDirs()
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(cmd).Output()
		if err != nil {
			return s, fmt.Errorf("%s: %w", cmd, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			s.IPTables = append(s.IPTables, cmd+": "+counters.ReplaceAllString(line, ""))
		}
	}
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return s, fmt.Errorf("ip link: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			s.Links = append(s.Links, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			s.Paths = append(s.Paths, p)
		}
	}
	for _, l := range [][]string{s.Processes, s.Mounts, s.Cgroups, s.IPTables, s.Links, s.Paths} {
		sort.Strings(l)
	}
	return s, nil
}

var counters = regexp.MustCompile(` \[\d+:\d+\]$`)

// Leftovers lists what after has and before had not, one line each, e.g. "mount: /var/cache/...".
func Leftovers(before, after HostState) []string {
	var out []string
	diff := func(kind string, b, a []string) {
		seen := map[string]bool{}
		for _, x := range b {
			seen[x] = true
		}
		for _, x := range a {
			if !seen[x] {
				out = append(out, kind+": "+x)
			}
		}
	}
	// Processes are ours by construction: any at all is a leftover.
	diff("process", nil, after.Processes)
	diff("mount", before.Mounts, after.Mounts)
	diff("cgroup", before.Cgroups, after.Cgroups)
	diff("iptables", before.IPTables, after.IPTables)
	diff("link", before.Links, after.Links)
	diff("path", before.Paths, after.Paths)
	return out
}

// ourProcesses: processes whose executable is in the cache folder, or that live in a cgroup kubelet or
// containerd made (kubepods, k8s.io): container processes show their in-container exe path.
func ourProcesses() ([]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	cache := CacheDir() + "/"
	var out []string
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		exe, _ := os.Readlink("/proc/" + pid + "/exe")
		cg, _ := os.ReadFile("/proc/" + pid + "/cgroup")
		if strings.HasPrefix(exe, cache) || inPodCgroup(string(cg)) {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			out = append(out, fmt.Sprintf("pid %s %s (%s)", pid, strings.TrimSpace(string(comm)), exe))
		}
	}
	return out, nil
}

func inPodCgroup(cgroupFile string) bool {
	for _, line := range strings.Split(cgroupFile, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && (strings.HasPrefix(parts[2], "/kubepods") || strings.HasPrefix(parts[2], "/k8s.io")) {
			return true
		}
	}
	return false
}

func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 4 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// cgroupDirs: each hierarchy's top-level folders, plus every kubepods/k8s.io folder below them.
func cgroupDirs() []string {
	var out []string
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		children, _ := os.ReadDir(h)
		for _, c := range children {
			if !c.IsDir() {
				continue
			}
			p := filepath.Join(h, c.Name())
			out = append(out, p)
			if c.Name() == "kubepods" || c.Name() == "k8s.io" {
				filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
					if err == nil && d.IsDir() && q != p {
						out = append(out, q)
					}
					return nil
				})
			}
		}
	}
	return out
}
