package cluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// CNIBridge is the Linux bridge the CNI bridge plugin makes for pods.
const CNIBridge = "cni-bp0"

// cniNetworkName names the CNI network (and libcni's cache files).
const cniNetworkName = "binder-projects-e2e"

// PodCIDR is the pod network on the bridge.
const PodCIDR = "10.244.0.0/24"

// writeConfigs writes containerd.toml, the kubelet configuration and the CNI network.
func writeConfigs(l layout, t *Tools, pauseImage string) error {
	for _, d := range []string{l.etc(), l.path("cni", "net.d"), l.path("run", "containerd"), l.data(), l.logs(), l.pids(), l.pv()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// root here lacks CAP_SYS_RESOURCE: restrict_oom_score_adj clamps the kubelet's -998 for sandboxes,
	// without it every sandbox fails in runc ("failed to update /proc/self/oom_score_adj").
	containerd := fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[5]q

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %[6]q
        SystemdCgroup = false
        Root = %[7]q
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[8]q]
    conf_dir = %[9]q

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

# Its default, /opt/containerd, is outside the scratch folder: a fresh host would keep it.
[plugins.'io.containerd.internal.v1.opt']
  path = %[10]q
`, l.path("data", "containerd"), l.path("run", "containerd"), l.sock(), l.sock()+".ttrpc",
		pauseImage, t.Runc, l.path("run", "runc"), t.CNIDir, l.path("cni", "net.d"), l.path("opt", "containerd"))
	if err := os.WriteFile(filepath.Join(l.etc(), "containerd.toml"), []byte(containerd), 0o644); err != nil {
		return err
	}
	pki := l.pki()
	// cgroup v1 host: failCgroupV1 false (the default refuses v1 since 1.35).
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%[1]s
imageServiceEndpoint: unix://%[1]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[2]s/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: %[2]s/kubelet-server.crt
tlsPrivateKeyFile: %[2]s/kubelet-server.key
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
podLogsDir: %[3]s
staticPodPath: ""
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
protectKernelDefaults: false
makeIPTablesUtilChains: false
serializeImagePulls: false
syncFrequency: 10s
nodeStatusReportFrequency: 10s
`, l.sock(), pki, l.path("data", "pod-logs"))
	if err := os.WriteFile(filepath.Join(l.etc(), "kubelet-config.yaml"), []byte(kubelet), 0o644); err != nil {
		return err
	}
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`, cniNetworkName, CNIBridge, PodCIDR, l.path("data", "cni-ipam"))
	return os.WriteFile(l.path("cni", "net.d", "10-binder-projects.conflist"), []byte(cni), 0o644)
}
