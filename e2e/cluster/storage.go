package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
	if err := os.Chown(dir, 0, 100); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o775|os.ModeSetgid); err != nil {
		return "", err
	}
	hostPathType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: PVName(namespace, claimName), Labels: map[string]string{"binder-projects.e2e/user-storage": "true"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "", // matches a claim without a class when there is no default class
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: namespace, Name: claimName},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType}},
		},
	}
	_, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating PV for %s/%s: %w", namespace, claimName, err)
	}
	return dir, nil
}

// PVName is the PersistentVolume UserStorage makes for a claim.
func PVName(namespace, claimName string) string { return "pv-" + namespace + "-" + claimName }
