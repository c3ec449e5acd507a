// Package controller holds the controllers that run beside the webhook in the same manager. Admission
// itself creates nothing; what a mutated pod needs that does not exist yet is made here.
package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/binder-projects/binder-projects/contract"
)

// ClaimConfig is what a claim created for a pod with no storage looks like.
type ClaimConfig struct {
	Size resource.Quantity
	// StorageClass is the claim's storage class; empty means the cluster's default class.
	StorageClass string
	AccessMode   corev1.PersistentVolumeAccessMode
}

// DefaultClaimConfig matches z2jh's dynamic storage defaults.
func DefaultClaimConfig() ClaimConfig {
	return ClaimConfig{Size: resource.MustParse("10Gi"), AccessMode: corev1.ReadWriteOnce}
}

// LabelManagedBy marks the claims binder-projects created.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "binder-projects"
)

// ClaimFor returns the claim of a mutated pod (contract.AnnotationClaim), as KubeSpawner would have
// made it, or nil when the pod is not one binder-projects mutated. The claim has no owner: it holds
// the user's projects and must outlive every pod.
func ClaimFor(pod *corev1.Pod, cc ClaimConfig) *corev1.PersistentVolumeClaim {
	claimName := pod.Annotations[contract.AnnotationClaim]
	if pod.Annotations[contract.AnnotationStatus] != contract.StatusInjected || claimName == "" {
		return nil
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:      claimName,
			Namespace: pod.Namespace,
			Labels: map[string]string{
				"component":    "singleuser-storage",
				LabelManagedBy: ManagedBy,
			},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{cc.AccessMode},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: cc.Size},
			},
		},
	}
	if cc.StorageClass != "" {
		pvc.Spec.StorageClassName = &cc.StorageClass
	}
	if u, ok := pod.Labels[contract.AnnotationHubUsername]; ok {
		pvc.Labels[contract.AnnotationHubUsername] = u
	}
	if u, ok := pod.Annotations[contract.AnnotationHubUsername]; ok {
		pvc.Annotations = map[string]string{contract.AnnotationHubUsername: u}
	}
	return pvc
}

// ClaimReconciler creates the claim of a pending mutated pod when it does not exist (BinderHub's
// default storage type "none", where KubeSpawner makes no claim). It only ever creates: it needs no
// permission to read, change or delete claims.
type ClaimReconciler struct {
	Client client.Client
	Claims ClaimConfig
}

// Reconcile creates the claim of the named pod if the pod is pending and the claim is missing.
func (r *ClaimReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if pod.Status.Phase != corev1.PodPending && pod.Status.Phase != "" {
		return ctrl.Result{}, nil
	}
	pvc := ClaimFor(&pod, r.Claims)
	if pvc == nil {
		return ctrl.Result{}, nil
	}
	err := r.Client.Create(ctx, pvc)
	switch {
	case apierrors.IsAlreadyExists(err):
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("creating claim %s/%s for pod %s: %w", pvc.Namespace, pvc.Name, pod.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("created the user's claim", "claim", pvc.Name)
	return ctrl.Result{}, nil
}

// SetupWithManager watches pending pods that binder-projects mutated.
func (r *ClaimReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return watchMutatedPods(mgr, "claims", r)
}

// watchMutatedPods runs rec for every change of a pod that binder-projects mutated.
func watchMutatedPods(mgr ctrl.Manager, name string, rec crreconcile.Reconciler) error {
	mutated := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetAnnotations()[contract.AnnotationStatus] == contract.StatusInjected
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		For(&corev1.Pod{}, builder.WithPredicates(mutated)).
		Complete(rec)
}
