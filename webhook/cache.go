package webhook

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// The manager's cache (serve) holds every claim of the hub's namespace, one per user, and every
// singleuser pod. Its transforms keep of each object only what is read of it, so that memory grows
// with a small part of each: admission's registry reads (ClaimRegistry) and the user's pods
// (CachedUserPods, patch.OpenServers), and the controllers' reads of pods (controller.LaunchOf,
// controller.ClaimFor, the Events they record).

// TransformClaim is the cache transform for claims, which the cache reads as metadata
// (projects.ClaimMetadata), and the registry reader's view of any claim (ClaimRegistry), so that
// admission's tests see what admission reads from the cache. Of a claim it keeps the name, namespace
// and resourceVersion, the owner (hub.jupyter.org/username) and the annotations binder-projects owns
// (contract.Prefix: the registry), and of each recorded project only what admission reads
// (cachedProject). A projects annotation that does not parse is kept as it is, so that admission finds
// it corrupt as before. It is idempotent, and any other object passes unchanged.
func TransformClaim(obj any) (any, error) {
	claim, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	kept := map[string]string{}
	for key, v := range claim.Annotations {
		if key == contract.AnnotationHubUsername || strings.HasPrefix(key, contract.Prefix) {
			kept[key] = v
		}
	}
	var recorded []projects.Project
	if v, ok := kept[projects.AnnotationProjects]; ok && json.Unmarshal([]byte(v), &recorded) == nil && len(recorded) > 0 {
		slim := make([]cachedProject, 0, len(recorded))
		for _, p := range recorded {
			slim = append(slim, cachedProject{Dir: p.Dir, Commit: p.Commit})
		}
		b, err := json.Marshal(slim)
		if err != nil {
			return nil, err
		}
		kept[projects.AnnotationProjects] = string(b)
	}
	return &metav1.PartialObjectMetadata{TypeMeta: claim.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: claim.Name, Namespace: claim.Namespace, ResourceVersion: claim.ResourceVersion, Annotations: kept}}, nil
}

// cachedProject is of a recorded project what admission reads (Registry.Find, Admit, Commits): its
// folder and commit, in projects.Project's JSON. A reading of more in admission (the image, the last
// use, the size) must be added here, or admission's tests, which read claims through TransformClaim
// too, will not see it.
type cachedProject struct {
	Dir    contract.ProjectDir `json:"dir"`
	Commit string              `json:"commit,omitempty"`
}

// TransformPod is the cache transform for singleuser pods: it drops their managed fields and their
// spec. Nothing reads a cached pod's spec: the webhook and the controllers read its metadata
// (annotations, labels, deletionTimestamp) and status only. So the pod's env, which holds the user's
// JupyterHub API token, is never kept in memory either. Any other object passes unchanged.
func TransformPod(obj any) (any, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		pod.ManagedFields = nil
		pod.Spec = corev1.PodSpec{}
	}
	return obj, nil
}
