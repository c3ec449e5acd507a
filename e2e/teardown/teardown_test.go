// Package teardown proves that stopping the cluster leaves nothing behind on the host. It starts its own
// cluster (the machine-wide lock makes it wait for any other), runs a pod on the pod network with a
// volume (so CNI, mounts and cgroups are really made), stops the cluster and compares host snapshots.
package teardown

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

func TestStoppingTheClusterLeavesNoProcessesMountsCgroupsIPTablesChainsOrBridges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var before cluster.HostState
	c, err := cluster.Start(ctx, cluster.Options{Images: []cluster.Image{cluster.RepoA}, HostStateBefore: &before})
	if err != nil {
		t.Fatal(err)
	}
	c.StopOnSignal()
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()
	// A pod on the pod network (CNI bridge, veth, iptables masquerade) with volumes: the token tmpfs and
	// a hostPath-backed claim mounted with a subPath (a bind mount on the host), as our pods have.
	if _, err := c.UserStorage(ctx, "default", "claim-teardown"); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim-teardown", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := c.Client().CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "busy", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(30)),
			Containers: []corev1.Container{{
				Name: "notebook", Image: cluster.RepoA.Name, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", "echo hi > /data/hi; exec sleep 3600"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "project"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-teardown"}}}},
		},
	}
	if _, err := c.Client().CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := c.Client().CoreV1().Pods("default").Get(ctx, "busy", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			t.Logf("pod running with IP %s", p.Status.PodIP)
			break
		}
		if ctx.Err() != nil {
			t.Fatal("pod never ran")
		}
		time.Sleep(200 * time.Millisecond)
	}
	during, err := cluster.CaptureHostState()
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot must see the cluster, or an empty diff after Stop proves nothing.
	seen := strings.Join(cluster.Leftovers(before, during), "\n")
	for _, want := range []string{"process: ", "mount: ", "/volume-subpaths/", "cgroup: ", "iptables: ", "link: " + cluster.CNIBridge} {
		if !strings.Contains(seen, want) {
			t.Errorf("while running, the host snapshot shows no %q; the check is blind to it", want)
		}
	}
	stopped = true
	if err := c.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	after, err := cluster.CaptureHostState()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cluster.Leftovers(before, after) {
		t.Errorf("left behind: %s", l)
	}
}

func ptr[T any](v T) *T { return &v }
