package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/e2e/binderhub"
	"github.com/binder-projects/binder-projects/e2e/cluster"
	"github.com/binder-projects/binder-projects/patch"
)

// demo starts the cluster with the webhook, then plays a user's sessions: project A, a relaunch that
// finds the user's file, project B beside A. The cluster stays up afterwards.
func demo(ctx context.Context, webhook bool) error {
	if !webhook {
		return errors.New("the demo needs the webhook")
	}
	c, err := up(ctx, true)
	if err != nil {
		return err
	}
	const user = "demo"
	ns := binderhub.Namespace
	step := func(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }
	hostDir, err := c.UserStorage(ctx, ns, "claim-"+user)
	if err != nil {
		return err
	}
	pvc, err := binderhub.Claim(user)
	if err != nil {
		return err
	}
	if _, err := c.Client().CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	show := `echo "--- /home/jovyan:"; ls -A /home/jovyan; echo "--- /projects:"; ls -A /projects`
	sessions := []struct {
		title  string
		repo   binderhub.Repo
		script string
	}{
		{"launch project A (" + binderhub.RepoA.URL + "): the init container copies the repository", binderhub.RepoA,
			show + `; echo "my notes" > /home/jovyan/my-notes.txt; echo "(the user wrote /home/jovyan/my-notes.txt)"`},
		{"the server is culled and launched again: the user's file is still there, nothing is copied", binderhub.RepoA,
			show + `; echo "--- cat /home/jovyan/my-notes.txt:"; cat /home/jovyan/my-notes.txt`},
		{"launch project B (" + binderhub.RepoB.URL + "): B at home, A under /projects", binderhub.RepoB,
			show + `; echo "--- cat /projects/` + string(binderhub.RepoA.ProjectDir) + `/my-notes.txt:"; cat /projects/` + string(binderhub.RepoA.ProjectDir) + `/my-notes.txt`},
	}
	for i, s := range sessions {
		step("%d. %s", i+1, s.title)
		pod, err := binderhub.Pod(binderhub.FixtureDynamic, binderhub.FixtureDynamicUser, user, s.repo)
		if err != nil {
			return err
		}
		if err := deletePod(ctx, c, ns, pod.Name); err != nil {
			return err
		}
		t0 := time.Now()
		admitted, err := c.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		var inits []string
		for _, ic := range admitted.Spec.InitContainers {
			inits = append(inits, ic.Name)
		}
		fmt.Printf("pod %s admitted: project folder %q, init containers %s\n", pod.Name, admitted.Annotations[contract.AnnotationProjectDir], strings.Join(inits, ", "))
		if err := waitReady(ctx, c, ns, pod.Name); err != nil {
			return err
		}
		fmt.Printf("Ready after %s\n", time.Since(t0).Round(100*time.Millisecond))
		if logs, err := c.Kubectl(ctx, "-n", ns, "logs", pod.Name, "-c", patch.DefaultConfig().InitContainerName); err == nil {
			fmt.Print(indent("init| ", logs))
		}
		out, err := c.Kubectl(ctx, "-n", ns, "exec", pod.Name, "-c", "notebook", "--", "sh", "-c", s.script)
		if err != nil {
			return fmt.Errorf("exec: %w\n%s", err, out)
		}
		fmt.Print(indent("notebook| ", out))
	}
	step("on the host, the user's volume is %s", hostDir)
	fmt.Printf("\nThe cluster and the demo pod keep running. Try:\n  KUBECONFIG=%s %s -n %s exec -it jupyter-%s -c notebook -- sh\nRemove everything: make demo-down (in e2e/: go run ./cmd/e2ecluster down)\n",
		c.Kubeconfig(), c.KubectlPath(), ns, user)
	return nil
}

func indent(prefix, s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

func deletePod(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	err := c.Client().CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for {
		if _, err := c.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitReady(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		pod, err := c.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range pod.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			out, _ := c.Kubectl(context.Background(), "-n", ns, "describe", "pod", name)
			return fmt.Errorf("pod %s not Ready: %w\n%s", name, ctx.Err(), out)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
