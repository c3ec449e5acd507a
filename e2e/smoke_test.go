package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

func TestAPodWithAClaimAndSubPathRunsAndWritesIntoTheHostFolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := testCluster
	const ns, claim = "default", "claim-smoke"
	hostDir, err := c.UserStorage(ctx, ns, claim)
	if err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		},
	}
	if _, err := c.Client().CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	uid, gid := int64(1000), int64(100)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr(int64(1)),
			SecurityContext:               &corev1.PodSecurityContext{FSGroup: &gid},
			Containers: []corev1.Container{{
				Name: "notebook", Image: cluster.RepoA.Name, ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/sh", "-c", "id -u > /home/jovyan/written-by-pod && cat /etc/hostname"},
				SecurityContext: &corev1.SecurityContext{RunAsUser: &uid},
				VolumeMounts:    []corev1.VolumeMount{{Name: "home", MountPath: "/home/jovyan", SubPath: "smoke-project"}},
			}},
			Volumes: []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
	t0 := time.Now()
	if _, err := c.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPodPhase(ctx, t, ns, "smoke", corev1.PodSucceeded)
	t.Logf("pod Succeeded %s after create", time.Since(t0).Round(10*time.Millisecond))
	if got.Spec.NodeName != cluster.NodeName {
		t.Errorf("pod ran on %q, want %q", got.Spec.NodeName, cluster.NodeName)
	}
	data, err := os.ReadFile(filepath.Join(hostDir, "smoke-project", "written-by-pod"))
	if err != nil {
		t.Fatalf("the pod's file is not in the host folder: %v", err)
	}
	if strings.TrimSpace(string(data)) != "1000" {
		t.Errorf("written-by-pod = %q, want the notebook uid 1000", data)
	}
	deletePod(ctx, t, ns, "smoke")
	if err := c.Client().CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
}
