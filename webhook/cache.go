package webhook

import (
	"encoding/json"

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

// claimAnnotations are the annotations admission reads of a claim: the registry and its owner.
var claimAnnotations = []string{contract.AnnotationHubUsername, projects.AnnotationProjects,
	projects.AnnotationDeleteQueue, projects.AnnotationUpdateQueue}

// TransformClaim is the cache transform for claims, which the cache reads as metadata
// (projects.ClaimMetadata): it keeps a claim's name, namespace and resourceVersion, its owner and its
// registry, and of each project only what admission reads (admitted). A registry annotation that does
// not parse is kept as it is, so that admission finds it corrupt as before. Any other object passes
// unchanged.
func TransformClaim(obj any) (any, error) {
	claim, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	kept := make(map[string]string, len(claimAnnotations))
	for _, key := range claimAnnotations {
		if v, ok := claim.Annotations[key]; ok {
			kept[key] = v
		}
	}
	var recorded []projects.Project
	if v, ok := kept[projects.AnnotationProjects]; ok && json.Unmarshal([]byte(v), &recorded) == nil && len(recorded) > 0 {
		slim := make([]cachedProject, 0, len(recorded))
		for _, p := range admitted(recorded) {
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

// cachedProject is a project as the claim cache holds it: projects.Project's JSON, with only the
// fields admitted keeps.
type cachedProject struct {
	Dir    contract.ProjectDir `json:"dir"`
	Commit string              `json:"commit,omitempty"`
}

// admitted is of a registry's projects what admission reads: each one's folder and commit
// (Registry.Find, Admit, Commits). The claim cache holds no more (TransformClaim), and ClaimRegistry
// returns no more from any reader, so that admission's tests see what it reads from the cache. A
// reading of more (the image, the last use) must be added here.
func admitted(recorded []projects.Project) []projects.Project {
	if recorded == nil {
		return nil
	}
	out := make([]projects.Project, len(recorded))
	for i, p := range recorded {
		out[i] = projects.Project{Dir: p.Dir, Commit: p.Commit}
	}
	return out
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
