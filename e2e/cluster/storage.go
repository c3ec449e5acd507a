package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UserStorage makes what z2jh's dynamic storage gives a user, seen from the user's side: a volume for
// the claim namespace/claimName. It is a hostPath PersistentVolume pre-bound to that claim (spec.claimRef),
// so the PVC `claim-<user>` (made by the test as KubeSpawner would, or by our controller) binds to it.
// The returned host folder is the volume's root, for the test to inspect. Like a fresh volume with the
// pod's fsGroup 100 applied, it is group 100, group-writable and setgid.
func (c *Cluster) UserStorage(ctx context.Context, namespace, claimName string) (string, error) {
	dir := filepath.Join(c.l.pv(), namespace, claimName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, c.userVolume(ctx, namespace, claimName, dir, resource.MustParse("10Gi"))
}

// SmallUserStorage is UserStorage on a real small file system: an ext4 of sizeMiB MiB in a file,
// loop-mounted at the volume's root, so that a full volume fails as a real one does (ENOSPC on mkdir
// and on writes, unlike tmpfs). The cluster's teardown unmounts it with everything under its root.
func (c *Cluster) SmallUserStorage(ctx context.Context, namespace, claimName string, sizeMiB int) (string, error) {
	dir := filepath.Join(c.l.pv(), namespace, claimName)
	img := filepath.Join(c.l.path("pv-images"), namespace+"-"+claimName+".ext4")
	for _, d := range []string{dir, filepath.Dir(img)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	for _, cmd := range [][]string{
		{"truncate", "-s", strconv.Itoa(sizeMiB) + "M", img},
		// No blocks reserved for root: the volume is full for the notebook user as for anyone.
		{"mkfs.ext4", "-q", "-F", "-m", "0", img},
		{"mount", "-o", "loop", img, dir},
	} {
		if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%v: %w: %s", cmd, err, out)
		}
	}
	// A fresh ext4 has lost+found; a volume the user sees has nothing.
	if err := os.Remove(filepath.Join(dir, "lost+found")); err != nil {
		return "", err
	}
	return dir, c.userVolume(ctx, namespace, claimName, dir, resource.MustParse(strconv.Itoa(sizeMiB)+"Mi"))
}

// userVolume makes dir the root of a volume for the claim: group 100, group-writable and setgid, and a
// PersistentVolume pre-bound to the claim.
func (c *Cluster) userVolume(ctx context.Context, namespace, claimName, dir string, size resource.Quantity) error {
	if err := os.Chown(dir, 0, 100); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o775|os.ModeSetgid); err != nil {
		return err
	}
	hostPathType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: PVName(namespace, claimName), Labels: map[string]string{"binder-projects.e2e/user-storage": "true"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "", // matches a claim without a class when there is no default class
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: namespace, Name: claimName},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType}},
		},
	}
	_, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating PV for %s/%s: %w", namespace, claimName, err)
	}
	return nil
}

// PVName is the PersistentVolume UserStorage makes for a claim.
func PVName(namespace, claimName string) string { return "pv-" + namespace + "-" + claimName }
