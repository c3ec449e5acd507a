package controller

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// LaunchOf returns what pod's init container did: the project it launched, the folders it deleted
// and the claim they are on; or false while it has not succeeded (still running, failed, or not
// ours): a failed init container changes nothing, so the queue keeps every folder.
func LaunchOf(pod *corev1.Pod, cfg patch.Config) (projects.Project, []string, string, bool) {
	if pod.Annotations[patch.AnnotationStatus] != patch.StatusInjected {
		return projects.Project{}, nil, "", false
	}
	var status *corev1.ContainerStatus
	for i := range pod.Status.InitContainerStatuses {
		if pod.Status.InitContainerStatuses[i].Name == cfg.InitContainerName {
			status = &pod.Status.InitContainerStatuses[i]
		}
	}
	if status == nil || status.State.Terminated == nil || status.State.Terminated.ExitCode != 0 {
		return projects.Project{}, nil, "", false
	}
	claim := ""
	if pvc := ClaimFor(pod, cfg, ClaimConfig{}); pvc != nil {
		claim = pvc.Name
	}
	var image string
	var deleted []string
	for _, ic := range pod.Spec.InitContainers {
		if ic.Name != cfg.InitContainerName {
			continue
		}
		image = ic.Image
		for _, e := range ic.Env {
			if e.Name == patch.EnvDelete {
				deleted = strings.Fields(e.Value)
			}
		}
	}
	p := projects.Project{
		Dir:      pod.Annotations[patch.AnnotationProjectDir],
		RepoURL:  pod.Annotations[patch.AnnotationRepoURL],
		Image:    image,
		Commit:   pod.Annotations[patch.AnnotationCommit],
		LastUsed: status.State.Terminated.FinishedAt.UTC(),
	}
	if claim == "" || p.Dir == "" {
		return projects.Project{}, nil, "", false
	}
	return p, deleted, claim, true
}

// RegistryReconciler keeps the projects registry on each user's claim from what it observes: once a
// mutated pod's init container has succeeded, the launched project is recorded (or its last use
// updated) and the folders that init container deleted leave the queue. Updates are optimistic: a
// conflicting write reads the claim again and retries, so concurrent updates all land.
type RegistryReconciler struct {
	Client client.Client
	// APIReader reads claims from the API server, not the cache, so a retry sees the newest version.
	APIReader client.Reader
	Config    patch.Config
}

// Reconcile records the named pod's launch on its claim.
func (r *RegistryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p, deleted, claim, ok := LaunchOf(&pod, r.Config)
	if !ok {
		return ctrl.Result{}, nil
	}
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pvc corev1.PersistentVolumeClaim
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: claim}, &pvc); err != nil {
			return err
		}
		reg, err := projects.FromClaim(&pvc)
		if err != nil {
			return err
		}
		before := pvc.DeepCopy()
		reg.Record(p)
		reg.Deleted(deleted, pod.CreationTimestamp.UTC())
		if err := reg.ToClaim(&pvc); err != nil {
			return err
		}
		if reflect.DeepEqual(before.Annotations, pvc.Annotations) {
			return nil
		}
		changed = true
		return r.Client.Update(ctx, &pvc)
	})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("recording project %s of pod %s on claim %s: %w", p.Dir, pod.Name, claim, err)
	}
	if changed {
		ctrl.LoggerFrom(ctx).Info("registry updated", "claim", claim, "projectDir", p.Dir, "deleted", len(deleted))
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches mutated pods.
func (r *RegistryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return watchMutatedPods(mgr, "registry", r)
}
