package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The order processes stop in: what runs on the host against the API (cert-manager, the projects
// service, the webhook), the node (so pods are torn down through CRI and CNI), then the control plane.
var processOrder = []string{"cert-manager", "projects-service", "webhook", "kubelet", "containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}

// teardown stops everything the cluster in l started and removes every trace of it on the host.
// live holds the processes this process started (nil from `down`). It keeps going after errors and
// returns them all.
func teardown(l layout, live map[string]*process, p *Progress) error {
	var errs []error
	done := p.Start("teardown")
	defer func() { done(errors.Join(errs...)) }()
	_, apiUp := recordedPid(l, "kube-apiserver")
	_, kubeletUp := recordedPid(l, "kubelet")
	if apiUp && kubeletUp {
		// Deleting the pods lets kubelet stop them through CRI, so CNI DEL removes the iptables
		// rules, the veth and the netns the normal way.
		if err := deleteAllPods(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting pods: %w", err))
		}
	}
	ctr := ""
	if b, ok := recordedExe(l, "containerd"); ok {
		ctr = filepath.Join(filepath.Dir(b), "ctr")
	}
	for _, name := range processOrder {
		if name == "containerd" && ctr != "" {
			killContainerdTasks(l, ctr)
		}
		grace := 10 * time.Second
		if err := stopRecorded(l, name, live[name], grace); err != nil {
			errs = append(errs, err)
		}
	}
	// Shims outlive containerd by design, and containers outlive shims: kill what is left of both.
	killStrays()
	if err := unmountUnder(l.root, "/run/containerd", "/var/lib/kubelet"); err != nil {
		errs = append(errs, err)
	}
	if err := cleanNetwork(); err != nil {
		errs = append(errs, err)
	}
	if err := removeNewEmptyNFTables(l); err != nil {
		errs = append(errs, err)
	}
	cleanHostPaths(l)
	if err := cleanCgroups(); err != nil {
		errs = append(errs, err)
	}
	// Keep the logs of the last cluster for post-mortems, wipe the rest.
	last := filepath.Join(CacheDir(), "last-logs")
	os.RemoveAll(last)
	if _, err := os.Stat(l.logs()); err == nil {
		if err := os.Rename(l.logs(), last); err != nil {
			errs = append(errs, err)
		}
	}
	if mounts, _ := mountPoints(); anyUnder(mounts, l.root) {
		errs = append(errs, fmt.Errorf("mounts left under %s, not deleting it", l.root))
	} else if err := os.RemoveAll(l.root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func recordedExe(l layout, name string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(l.pids(), name+".pid"))
	if err != nil {
		return "", false
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 {
		return "", false
	}
	return lines[1], true
}

func deleteAllPods(l layout) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.adminKubeconfig())
	if err != nil {
		return err
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	grace := int64(1)
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, pod := range pods.Items {
		cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	}
	err = waitFor(ctx, 80*time.Second, "all pods to be gone", func() (bool, error) {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})
	if err != nil {
		return err
	}
	// kubelet stops the sandboxes (CNI DEL) just after the API objects go.
	time.Sleep(2 * time.Second)
	return nil
}

func killContainerdTasks(l layout, ctr string) {
	if _, ok := recordedPid(l, "containerd"); !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{"--address", l.sock(), "-n", "k8s.io"}
	out, err := output(ctx, "", nil, ctr, append(base, "tasks", "ls", "-q")...)
	if err != nil {
		return
	}
	tasks := strings.Fields(out)
	for _, t := range tasks {
		output(ctx, "", nil, ctr, append(base, "tasks", "kill", "-s", "SIGKILL", t)...)
	}
	if len(tasks) > 0 {
		time.Sleep(time.Second)
	}
	for _, t := range tasks {
		output(ctx, "", nil, ctr, append(base, "tasks", "delete", "-f", t)...)
	}
}

// killStrays kills processes running our binaries (shims) and anything still in a pod cgroup.
func killStrays() {
	for round := 0; round < 20; round++ {
		procs, _ := ourProcessPids()
		if len(procs) == 0 {
			return
		}
		for _, pid := range procs {
			if pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func ourProcessPids() ([]int, error) {
	lines, err := ourProcesses()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, l := range lines {
		var pid int
		if _, err := fmt.Sscanf(l, "pid %d", &pid); err == nil && pid != os.Getpid() && !isZombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func anyUnder(paths []string, root string) bool {
	for _, p := range paths {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// unmountUnder lazily unmounts every mount point under the given roots, deepest first.
func unmountUnder(roots ...string) error {
	for round := 0; round < 5; round++ {
		mounts, err := mountPoints()
		if err != nil {
			return err
		}
		var ours []string
		for _, m := range mounts {
			for _, r := range roots {
				if m == r || strings.HasPrefix(m, r+"/") {
					ours = append(ours, m)
					break
				}
			}
		}
		if len(ours) == 0 {
			return nil
		}
		sort.Sort(sort.Reverse(sort.StringSlice(ours)))
		for _, m := range ours {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	mounts, _ := mountPoints()
	for _, r := range roots {
		if anyUnder(mounts, r) {
			return fmt.Errorf("mounts left under %s", r)
		}
	}
	return nil
}

// cleanNetwork removes the CNI iptables chains and rules, the pods' veths and the bridge.
func cleanNetwork() error {
	var errs []error
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"nat", "filter", "mangle"} {
			if err := removeChains(cmd, table, "CNI-"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "master", CNIBridge).Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				exec.Command("ip", "link", "del", strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]).Run()
			}
		}
	}
	if err := exec.Command("ip", "link", "show", CNIBridge).Run(); err == nil {
		if out, err := exec.Command("ip", "link", "del", CNIBridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %w: %s", CNIBridge, err, out))
		}
	}
	return errors.Join(errs...)
}

// removeChains deletes every rule that jumps to a chain with the prefix, then those chains.
func removeChains(cmd, table, prefix string) error {
	out, err := exec.Command(cmd, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil // table or command not available
	}
	var chains []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch {
		case f[0] == "-N" && strings.HasPrefix(f[1], prefix):
			chains = append(chains, f[1])
		case f[0] == "-A" && !strings.HasPrefix(f[1], prefix) && strings.Contains(line, " "+prefix):
			args := append([]string{"-w", "-t", table, "-D"}, f[1:]...)
			exec.Command(cmd, args...).Run()
		}
	}
	var errs []error
	for _, c := range chains {
		exec.Command(cmd, "-w", "-t", table, "-F", c).Run()
	}
	for _, c := range chains {
		if o, err := exec.Command(cmd, "-w", "-t", table, "-X", c).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s -t %s -X %s: %w: %s", cmd, table, c, err, o))
		}
	}
	return errors.Join(errs...)
}

// cleanHostPaths removes what kubelet, containerd and ctr put outside the scratch folder.
func cleanHostPaths(l layout) {
	os.RemoveAll("/var/lib/kubelet/device-plugins")
	os.Remove("/var/lib/kubelet") // only if empty
	// kubelet's symlinks to our pod logs
	if links, _ := filepath.Glob("/var/log/containers/*"); len(links) > 0 {
		for _, ln := range links {
			if t, err := os.Readlink(ln); err == nil && strings.HasPrefix(t, l.root+"/") {
				os.Remove(ln)
			}
		}
	}
	os.Remove("/var/log/containers")
	for _, d := range []string{"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc"} {
		os.RemoveAll(d)
	}
	os.Remove("/run/containerd")
	os.Remove("/run/netns")
	// libcni's result cache (containerd does not let us move it)
	if res, _ := filepath.Glob("/var/lib/cni/results/" + cniNetworkName + "-*"); len(res) > 0 {
		for _, r := range res {
			os.Remove(r)
		}
	}
	os.Remove("/var/lib/cni/results")
	os.Remove("/var/lib/cni")
}

// nftTables lists the nftables tables ("ip nat", ...).
func nftTables() ([]string, error) {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w", err)
	}
	tables := []string{} // recorded as [], not null: "none before" differs from "not recorded"
	for _, line := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "table "); ok {
			tables = append(tables, t)
		}
	}
	return tables, nil
}

// removeNewEmptyNFTables deletes the nftables tables that appeared with the cluster, once they hold
// no rules (iptables-nft leaves e.g. an empty "ip nat" table behind when its chains are gone).
func removeNewEmptyNFTables(l layout) error {
	data, err := os.ReadFile(l.path("state.json"))
	if err != nil {
		return nil // no record of what was there before: leave every table alone
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil || s.NFTables == nil {
		return nil
	}
	before := map[string]bool{}
	for _, t := range s.NFTables {
		before[t] = true
	}
	now, err := nftTables()
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range now {
		if before[t] {
			continue
		}
		out, err := exec.Command("nft", append([]string{"list", "table"}, strings.Fields(t)...)...).Output()
		if err != nil {
			continue
		}
		rules := 0
		for _, line := range strings.Split(string(out), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line == "}" || strings.HasPrefix(line, "table ") || strings.HasPrefix(line, "chain ") || strings.HasPrefix(line, "type ") || strings.HasPrefix(line, "policy ") {
				continue
			}
			rules++
		}
		if rules > 0 {
			continue
		}
		if o, err := exec.Command("nft", append([]string{"delete", "table"}, strings.Fields(t)...)...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table %s: %w: %s", t, err, o))
		}
	}
	return errors.Join(errs...)
}

// cleanCgroups removes the (then empty) kubepods and k8s.io folders from every cgroup v1 hierarchy.
func cleanCgroups() error {
	var errs []error
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		for _, name := range []string{"kubepods", "k8s.io"} {
			root := filepath.Join(h, name)
			if _, err := os.Stat(root); err != nil {
				continue
			}
			var dirs []string
			filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
			for _, d := range dirs {
				var err error
				for try := 0; try < 20; try++ {
					if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil && !errors.Is(err, syscall.ENOENT) {
					errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}
