package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// NodeName is the single node's name.
const NodeName = "e2e-node"

// Options configure Start.
type Options struct {
	// Progress receives one line per step (os.Stderr when nil).
	Progress io.Writer
	// Namespaces to create (and wait for their default ServiceAccount).
	Namespaces []string
	// Images to import besides the pause image; StandardImages() when nil.
	Images []Image
	// Webhook builds and starts binder-projects from the repository root and registers it.
	Webhook bool
	// WebhookNamespace is the hub namespace the webhook serves (default "bhub").
	WebhookNamespace string
	// HostStateBefore, when set, receives a snapshot of the host taken once this machine is ours
	// (lock held, stale clusters removed) and before anything starts: compare it with Leftovers.
	HostStateBefore *HostState
}

// Cluster is a running single-node cluster.
type Cluster struct {
	opts   Options
	l      layout
	p      *Progress
	tools  *Tools
	nodeIP net.IP
	pki    *pki
	rest   *rest.Config
	client kubernetes.Interface
	lock   *os.File

	mu       sync.Mutex
	procs    map[string]*process
	stopped  bool
	webhook  *webhookState
	ourImage bool // ImportOurImage has run
	Timings  []Timing
	detached bool
	nftables []string

	// certManager is the cert-manager program StartCertManager runs (built on first use).
	certManager *CertManagerBuild
}

// state is written to the scratch folder so that `down` (or the next Start) can find a cluster.
type state struct {
	OwnerPid int  `json:"ownerPid"`
	Detached bool `json:"detached"` // left running on purpose (`e2ecluster up`)
	// NFTables are the nftables tables that existed before the cluster started: iptables-nft creates
	// a table (e.g. ip nat) on first use, and teardown deletes the ones the cluster created.
	NFTables []string `json:"nftables"`
}

// ErrAlreadyRunning means a cluster left running by `e2ecluster up` is in the way.
var ErrAlreadyRunning = errors.New("a cluster is already running (remove it with `go run ./cmd/e2ecluster down` in e2e/)")

// Start builds what is missing, then starts etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd and kubelet, and returns once pods can be scheduled. On error everything
// started is torn down again. Only one cluster runs on a machine at a time; Start waits for a lock.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.WebhookNamespace == "" {
		opts.WebhookNamespace = "bhub"
	}
	if opts.Images == nil {
		opts.Images = StandardImages()
	}
	p := NewProgress(opts.Progress)
	c := &Cluster{opts: opts, l: layout{root: filepath.Join(CacheDir(), "cluster")}, p: p, procs: map[string]*process{}}
	if os.Geteuid() != 0 {
		return nil, errors.New("the e2e cluster needs root (kubelet, containerd, mounts, iptables)")
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return nil, err
	}
	if c.lock, err = lockMachine(ctx, p); err != nil {
		return nil, err
	}
	armed := false // tear down on error only once the machine is ours
	defer func() {
		if err != nil && armed {
			c.Stop()
		} else if err != nil {
			c.lock.Close()
		}
	}()
	if err := clearStale(c.l, p); err != nil {
		return nil, err
	}
	armed = true
	if opts.HostStateBefore != nil {
		if *opts.HostStateBefore, err = CaptureHostState(); err != nil {
			return c, err
		}
	}
	if c.tools, err = EnsureTools(ctx, p); err != nil {
		return c, err
	}
	t0 := time.Now()
	if err := os.MkdirAll(c.l.pids(), 0o755); err != nil {
		return c, err
	}
	if c.nftables, err = nftTables(); err != nil {
		return c, err
	}
	if err := c.writeState(); err != nil {
		return c, err
	}
	if c.nodeIP, err = NodeIP(); err != nil {
		return c, err
	}
	done := p.Start("pki        CA, certificates, kubeconfigs (node IP %s)", c.nodeIP)
	c.pki, err = makePKI(c.l, NodeName, c.nodeIP)
	done(err)
	if err != nil {
		return c, err
	}
	if err := writeConfigs(c.l, c.tools, PauseImageName); err != nil {
		return c, err
	}
	if c.rest, err = clientcmd.BuildConfigFromFlags("", c.l.adminKubeconfig()); err != nil {
		return c, err
	}
	c.rest.QPS, c.rest.Burst = 50, 100
	if c.client, err = kubernetes.NewForConfig(c.rest); err != nil {
		return c, err
	}
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"kube-controller-manager + kube-scheduler", c.startControllers},
		{"containerd", c.startContainerd},
		{"images", c.importImages},
		{"kubelet (node Ready)", c.startKubelet},
		{"schedulable (default ServiceAccount, no taints)", c.waitSchedulable},
	} {
		done := p.Start("start      %s", step.name)
		err := step.fn(ctx)
		done(err)
		if err != nil {
			return c, fmt.Errorf("%s: %w (logs in %s)", step.name, err, filepath.Join(CacheDir(), "last-logs"))
		}
	}
	p.Step("cluster    up and schedulable %s after the build", time.Since(t0).Round(100*time.Millisecond))
	if opts.Webhook {
		done := p.Start("webhook    build, start and register binder-projects")
		err := c.StartWebhook(ctx)
		done(err)
		if err != nil {
			return c, err
		}
	}
	c.Timings = p.Timings()
	return c, nil
}

// lockMachine takes the machine-wide cluster lock (one cluster at a time: fixed ports, host paths).
func lockMachine(ctx context.Context, p *Progress) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(CacheDir(), "cluster.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return f, nil
		}
		if !said {
			p.Step("lock       another test cluster runs on this machine, waiting for it")
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

// clearStale removes a cluster whose owner died (a killed test run); a detached one is refused.
func clearStale(l layout, p *Progress) error {
	data, err := os.ReadFile(l.path("state.json"))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(l.root); err == nil {
			return teardown(l, nil, p)
		}
		return nil
	}
	var s state
	json.Unmarshal(data, &s)
	if s.Detached && anyRecordedAlive(l) {
		return ErrAlreadyRunning
	}
	p.Step("stale      removing what a previous run (pid %d) left behind", s.OwnerPid)
	return teardown(l, nil, p)
}

func anyRecordedAlive(l layout) bool {
	for _, n := range processOrder {
		if _, ok := recordedPid(l, n); ok {
			return true
		}
	}
	return false
}

func (c *Cluster) writeState() error {
	data, _ := json.Marshal(state{OwnerPid: os.Getpid(), Detached: c.detached, NFTables: c.nftables})
	return os.WriteFile(c.l.path("state.json"), data, 0o644)
}

// Detach marks the cluster as left running on purpose (`up`): the next Start refuses to replace it,
// and only Down removes it. The lock is released.
func (c *Cluster) Detach() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detached = true
	c.stopped = true
	if c.lock != nil {
		c.lock.Close()
	}
	return c.writeState()
}

// Stop tears everything down: processes, mounts, cgroups, iptables chains, the bridge, the host paths
// and the scratch folder (logs are kept in <cache>/last-logs). Safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	err := teardown(c.l, c.procs, c.p)
	if c.lock != nil {
		c.lock.Close()
	}
	return err
}

// StopOnSignal tears the cluster down on SIGINT, SIGTERM or SIGHUP, then exits with status 130.
func (c *Cluster) StopOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "e2e: %s: tearing the cluster down\n", s)
		c.Stop()
		os.Exit(130)
	}()
}

// Down removes a cluster left by `up` or by a killed run, from any process.
func Down(ctx context.Context, progress io.Writer) error {
	p := NewProgress(progress)
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return err
	}
	lock, err := lockMachine(ctx, p)
	if err != nil {
		return err
	}
	defer lock.Close()
	return teardown(layout{root: filepath.Join(CacheDir(), "cluster")}, nil, p)
}

// Client is a clientset with cluster-admin rights.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// RESTConfig is the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// Kubeconfig is the path of the admin kubeconfig.
func (c *Cluster) Kubeconfig() string { return c.l.adminKubeconfig() }

// KubectlPath is the kubectl binary built with the cluster.
func (c *Cluster) KubectlPath() string { return c.tools.Kubectl }

// NodeIPAddress is the node's IP.
func (c *Cluster) NodeIPAddress() net.IP { return c.nodeIP }

// LogDir holds one log per process.
func (c *Cluster) LogDir() string { return c.l.logs() }

// Kubectl runs kubectl against the cluster and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return output(ctx, "", []string{"KUBECONFIG=" + c.Kubeconfig()}, c.tools.Kubectl, args...)
}

// NodeIP is the primary non-loopback IPv4 address: the source address of the default route, else the
// first global IPv4 on an up interface.
func NodeIP() (net.IP, error) {
	if conn, err := net.Dial("udp4", "203.0.113.1:9"); err == nil { // a route lookup via the default route; no packet is sent
		ip := conn.LocalAddr().(*net.UDPAddr).IP
		conn.Close()
		if ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
			return ip.To4(), nil
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "cni") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.To4(), nil
			}
		}
	}
	return nil, errors.New("no non-loopback IPv4 address found for the node")
}

func (c *Cluster) start(name string, env []string, bin string, args ...string) (*process, error) {
	p, err := startProcess(c.l, name, env, bin, args...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return p, nil
}

func (c *Cluster) logPath(name string) string { return filepath.Join(c.l.logs(), name+".log") }

func (c *Cluster) startEtcd(ctx context.Context) error {
	p, err := c.start("etcd", nil, c.tools.Etcd, "--name", "e2e", "--data-dir", c.l.path("data", "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "e2e=http://127.0.0.1:2380", "--listen-metrics-urls", "http://127.0.0.1:2381",
		"--quota-backend-bytes", "2147483648", "--log-level", "warn", "--unsafe-no-fsync")
	if err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, "etcd /health", aliveCheck(p, c.logPath("etcd"), func() (bool, error) {
		resp, err := http.Get("http://127.0.0.1:2381/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	}))
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	k := c.pki.file
	p, err := c.start("kube-apiserver", nil, c.tools.APIServer,
		"--etcd-servers=http://127.0.0.1:2379",
		"--advertise-address="+c.nodeIP.String(), "--bind-address=0.0.0.0", "--secure-port=6443",
		"--tls-cert-file="+k("apiserver.crt"), "--tls-private-key-file="+k("apiserver.key"),
		"--client-ca-file="+k("ca.crt"),
		"--kubelet-client-certificate="+k("apiserver-kubelet-client.crt"), "--kubelet-client-key="+k("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+k("ca.crt"), "--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-key-file="+k("sa.pub"), "--service-account-signing-key-file="+k("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceClusterIPRange,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true", "--v=1",
		// no kube-proxy here: Service-referenced webhooks and aggregated APIs are dialled at their endpoints
		"--enable-aggregator-routing=true")
	if err != nil {
		return err
	}
	return waitFor(ctx, 120*time.Second, "kube-apiserver /readyz", aliveCheck(p, c.logPath("kube-apiserver"), func() (bool, error) {
		body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && strings.TrimSpace(string(body)) == "ok", err
	}))
}

func (c *Cluster) startControllers(ctx context.Context) error {
	kcm := c.l.path("controller-manager.kubeconfig")
	if _, err := c.start("kube-controller-manager", nil, c.tools.ControllerManager, "--kubeconfig="+kcm,
		"--authentication-kubeconfig="+kcm, "--authorization-kubeconfig="+kcm,
		"--bind-address=127.0.0.1", "--leader-elect=false", "--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pki.file("sa.key"), "--root-ca-file="+c.pki.file("ca.crt"),
		"--service-cluster-ip-range="+serviceClusterIPRange, "--v=1"); err != nil {
		return err
	}
	sch := c.l.path("scheduler.kubeconfig")
	_, err := c.start("kube-scheduler", nil, c.tools.Scheduler, "--kubeconfig="+sch,
		"--authentication-kubeconfig="+sch, "--authorization-kubeconfig="+sch,
		"--bind-address=127.0.0.1", "--leader-elect=false", "--v=1")
	return err
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	// containerd finds containerd-shim-runc-v2 in PATH.
	env := []string{"PATH=" + c.tools.ContainerdDir + ":" + os.Getenv("PATH")}
	p, err := c.start("containerd", env, c.tools.Containerd, "--config", filepath.Join(c.l.etc(), "containerd.toml"), "--log-level", "info")
	if err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, "containerd", aliveCheck(p, c.logPath("containerd"), func() (bool, error) {
		_, err := output(ctx, "", nil, c.tools.Ctr, "--address", c.l.sock(), "version")
		return err == nil, err
	}))
}

func (c *Cluster) importImages(ctx context.Context) error {
	pause, err := pauseImage(c.tools.Pause)
	if err != nil {
		return err
	}
	for _, img := range append([]Image{pause}, c.opts.Images...) {
		if err := c.ImportImage(ctx, img); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startKubelet(ctx context.Context) error {
	for _, d := range []string{c.l.path("data", "kubelet"), c.l.path("data", "pod-logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	p, err := c.start("kubelet", nil, c.tools.Kubelet, "--config="+filepath.Join(c.l.etc(), "kubelet-config.yaml"),
		"--kubeconfig="+c.l.path("kubelet.kubeconfig"), "--root-dir="+c.l.path("data", "kubelet"),
		"--hostname-override="+NodeName, "--node-ip="+c.nodeIP.String(), "--v=1")
	if err != nil {
		return err
	}
	return waitFor(ctx, 120*time.Second, "node Ready", aliveCheck(p, c.logPath("kubelet"), func() (bool, error) {
		node, err := c.client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}))
}

func (c *Cluster) waitSchedulable(ctx context.Context) error {
	for _, ns := range c.opts.Namespaces {
		_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for _, ns := range append([]string{"default"}, c.opts.Namespaces...) {
		if err := waitFor(ctx, 60*time.Second, "ServiceAccount "+ns+"/default", func() (bool, error) {
			_, err := c.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, err
		}); err != nil {
			return err
		}
	}
	return waitFor(ctx, 60*time.Second, "the node's taints to go", func() (bool, error) {
		node, err := c.client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(node.Spec.Taints) == 0, nil
	})
}
