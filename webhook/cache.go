package webhook

import (
	"encoding/json"
	"reflect"
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
// it corrupt as before. It is idempotent: a claim that is already as it makes it is returned itself,
// not a copy (hasOnlyKeptMetadata). Any other object passes unchanged.
func TransformClaim(obj any) (any, error) {
	claim, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	keptMeta := hasOnlyKeptMetadata(claim)
	v, hasProjects := claim.Annotations[projects.AnnotationProjects]
	if keptMeta && (!hasProjects || isSlimProjects(v)) {
		return claim, nil
	}
	slim, parsed := "", false
	if hasProjects {
		var err error
		if slim, parsed, err = slimProjects(v); err != nil {
			return nil, err
		}
	}
	if keptMeta && (!parsed || slim == v) {
		return claim, nil
	}
	kept := map[string]string{}
	for key, v := range claim.Annotations {
		if keptAnnotation(key) {
			kept[key] = v
		}
	}
	if parsed {
		kept[projects.AnnotationProjects] = slim
	}
	return &metav1.PartialObjectMetadata{TypeMeta: claim.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: claim.Name, Namespace: claim.Namespace, ResourceVersion: claim.ResourceVersion, Annotations: kept}}, nil
}

// keptAnnotation tells the annotations of a claim that the cache keeps: its owner and those
// binder-projects owns.
func keptAnnotation(key string) bool {
	return key == contract.AnnotationHubUsername || strings.HasPrefix(key, contract.Prefix)
}

// slimProjects is what the cache keeps of a projects annotation: of each project its folder and commit
// (cachedProject). parsed is false when v does not parse as projects, or holds none: the cache then
// keeps v as it is.
func slimProjects(v string) (slim string, parsed bool, err error) {
	var recorded []projects.Project
	if json.Unmarshal([]byte(v), &recorded) != nil || len(recorded) == 0 {
		return "", false, nil
	}
	kept := make([]cachedProject, 0, len(recorded))
	for _, p := range recorded {
		kept = append(kept, cachedProject{Dir: p.Dir, Commit: p.Commit})
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// hasOnlyKeptMetadata reports whether claim's metadata holds nothing but a name, namespace,
// resourceVersion and annotations, all of them kept ones: TransformClaim then makes of claim an equal
// claim if its projects annotation is already slim, and returns the claim itself. client-go
// transforms every claim of the initial list twice (as it arrives, into the reflector's watch-list
// store, and again when the informer's queue takes the whole list), and ClaimRegistry transforms each
// claim it reads from the cache: returning such a claim itself spares a second copy of every cached
// claim during the sync, and (isSlimProjects) the JSON work of a full transform.
func hasOnlyKeptMetadata(claim *metav1.PartialObjectMetadata) bool {
	if claim.Annotations == nil || !reflect.DeepEqual(&claim.ObjectMeta, &metav1.ObjectMeta{Name: claim.Name,
		Namespace: claim.Namespace, ResourceVersion: claim.ResourceVersion, Annotations: claim.Annotations}) {
		return false
	}
	for key := range claim.Annotations {
		if !keptAnnotation(key) {
			return false
		}
	}
	return true
}

// isSlimProjects reports, without decoding JSON, whether v is written exactly as json.Marshal writes a
// non-empty []cachedProject whose folders and commits hold only characters it writes as they are
// (printable ASCII but for the quote, the backslash, <, > and &). slimProjects of such a value is the
// value itself, or it does not parse (a folder name that is not valid) and is kept as it is: either
// way TransformClaim leaves it as it is. A value it does not recognize is checked by slimProjects.
func isSlimProjects(v string) bool {
	rest, ok := strings.CutPrefix(v, "[")
	for ok {
		if rest, ok = cutJSONString(rest, `{"dir":`, true); !ok {
			return false
		}
		if r, ok := cutJSONString(rest, `,"commit":`, false); ok {
			rest = r
		}
		if rest, ok = strings.CutPrefix(rest, "}"); !ok {
			return false
		}
		if rest == "]" {
			return true
		}
		rest, ok = strings.CutPrefix(rest, ",")
	}
	return false
}

// cutJSONString cuts from the start of s the key and then a JSON string of only characters that
// json.Marshal writes unescaped (isSlimProjects); empty tells whether it may be "".
func cutJSONString(s, key string, empty bool) (rest string, ok bool) {
	if s, ok = strings.CutPrefix(s, key+`"`); !ok {
		return "", false
	}
	end := strings.IndexByte(s, '"')
	if end < 0 || end == 0 && !empty {
		return "", false
	}
	for i := range end {
		if c := s[i]; c < ' ' || c > '~' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return "", false
		}
	}
	return s[end+1:], true
}

// cachedProject is of a recorded project what admission reads (Registry.Find, Admit, Commits): its
// folder and commit, in projects.Project's JSON. A reading of more in admission (the image, the last
// use, the size) must be added here, or admission's tests, which read claims through TransformClaim
// too, will not see it. isSlimProjects knows this JSON too, and should learn a field added here (its
// fuzz test fails if json.Marshal always writes the field).
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
