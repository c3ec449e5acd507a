package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// waitPodPhase waits until the pod reaches want, failing at once on an unexpected terminal phase.
func waitPodPhase(ctx context.Context, t testing.TB, ns, name string, want corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	for {
		pod, err := testCluster.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = pod
			if pod.Status.Phase == want {
				return pod
			}
			if (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded) && pod.Status.Phase != want {
				t.Fatalf("pod %s/%s is %s, want %s:\n%s", ns, name, pod.Status.Phase, want, describePod(ctx, ns, name))
			}
		}
		select {
		case <-ctx.Done():
			phase := corev1.PodPhase("unknown")
			if last != nil {
				phase = last.Status.Phase
			}
			t.Fatalf("pod %s/%s still %s, want %s:\n%s", ns, name, phase, want, describePod(context.Background(), ns, name))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPodReady waits until the pod is Running and Ready.
func waitPodReady(ctx context.Context, t testing.TB, ns, name string) *corev1.Pod {
	t.Helper()
	for {
		pod, err := testCluster.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return pod
				}
			}
			if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
				t.Fatalf("pod %s/%s ended %s:\n%s", ns, name, pod.Status.Phase, describePod(ctx, ns, name))
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s not Ready:\n%s", ns, name, describePod(context.Background(), ns, name))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describePod(ctx context.Context, ns, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := testCluster.Kubectl(ctx, "-n", ns, "describe", "pod", name)
	if err != nil {
		return fmt.Sprintf("(describe failed: %v)", err)
	}
	var logs strings.Builder
	if l, err := testCluster.Kubectl(ctx, "-n", ns, "logs", name, "--all-containers", "--prefix"); err == nil {
		logs.WriteString(l)
	}
	return out + "\n--- logs:\n" + logs.String()
}

// deletePod deletes the pod (as culling does: the normal grace period) and waits until it is gone.
func deletePod(ctx context.Context, t testing.TB, ns, name string) {
	t.Helper()
	err := testCluster.Client().CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for {
		_, err := testCluster.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s not gone after delete", ns, name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// webhookWith restarts the host's webhook with more `serve` flags, and with its default flags again
// when the test ends: the other tests share it.
func webhookWith(ctx context.Context, t testing.TB, flags ...string) {
	t.Helper()
	if err := testCluster.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testCluster.StopWebhook(); err != nil {
			t.Errorf("stopping the webhook started with %v: %v", flags, err)
		}
		if err := testCluster.StartWebhook(context.Background()); err != nil {
			t.Errorf("restarting the webhook with its default flags: %v", err)
		}
	})
	if err := testCluster.StartWebhookWith(ctx, flags...); err != nil {
		t.Fatal(err)
	}
}
