package contract

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// QueueEntry is an entry of one of the registry's queues on a user's claim: a project folder the user
// deleted (AnnotationClaimDeleteQueue), or a project whose next launch updates it
// (AnnotationClaimUpdateQueue), and when it was asked for. The pair identifies the entry exactly: the
// webhook records on the pod which entries it handed to the init container (AnnotationDeletions,
// AnnotationUpdateHanded), and the registry controller clears exactly those the init container
// reported done, never a later entry for the same folder.
type QueueEntry struct {
	Dir      ProjectDir `json:"dir"`
	QueuedAt time.Time  `json:"queuedAt"`
}

// Same reports whether q and o are the same queue entry.
func (q QueueEntry) Same(o QueueEntry) bool {
	return q.Dir == o.Dir && q.QueuedAt.Equal(o.QueuedAt)
}

// HandedDeletions reads AnnotationDeletions from a pod's annotations: the deletion queue entries the
// webhook handed to the pod's init container. None when it is absent; a value that does not parse (or
// names a bad folder) is an error.
func HandedDeletions(annotations map[string]string) ([]QueueEntry, error) {
	return handed(annotations, AnnotationDeletions)
}

// HandedRestores reads AnnotationRestores from a pod's annotations: the restore queue entries the
// webhook handed to the pod's init container, in their order in EnvRestore (the report names them by
// position, Report.Restored). None when it is absent; a value that does not parse is an error.
func HandedRestores(annotations map[string]string) ([]QueueEntry, error) {
	return handed(annotations, AnnotationRestores)
}

// HandedPurges reads AnnotationPurges from a pod's annotations: the purge queue entries the webhook
// handed to the pod's init container, in their order in EnvPurge (Report.Purged). None when it is
// absent; a value that does not parse is an error.
func HandedPurges(annotations map[string]string) ([]QueueEntry, error) {
	return handed(annotations, AnnotationPurges)
}

// handed reads the JSON list of queue entries in annotations[key] (annotationJSON).
func handed(annotations map[string]string, key string) ([]QueueEntry, error) {
	qs, err := annotationJSON[[]QueueEntry](annotations, key)
	if qs == nil {
		return nil, err
	}
	return *qs, err
}

// HandedUpdate reads AnnotationUpdateHanded from a pod's annotations: the update queue entry the
// webhook handed to the pod's init container, nil if none; a value that does not parse is an error.
func HandedUpdate(annotations map[string]string) (*QueueEntry, error) {
	return annotationJSON[QueueEntry](annotations, AnnotationUpdateHanded)
}

// annotationJSON decodes the JSON value of annotations[key]: nil when it is absent or empty, an error
// naming the annotation when it does not decode.
func annotationJSON[T any](annotations map[string]string, key string) (*T, error) {
	s := annotations[key]
	if s == "" {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", key, err)
	}
	return v, nil
}

// LaunchedDir reads AnnotationProjectDir from a mutated pod's annotations: the project folder the pod
// launched, checked (ParseProjectDir).
func LaunchedDir(annotations map[string]string) (ProjectDir, error) {
	d, err := ParseProjectDir(annotations[AnnotationProjectDir])
	if err != nil {
		return "", fmt.Errorf("annotation %s: %w", AnnotationProjectDir, err)
	}
	return d, nil
}

// RequestedDeletions reads AnnotationDelete from a pod's annotations: the folders a launcher asked to
// delete, each checked (ParseProjectDir); the bad ones come back as errors, by name.
func RequestedDeletions(annotations map[string]string) (dirs []ProjectDir, bad map[string]error) {
	for _, s := range strings.Fields(annotations[AnnotationDelete]) {
		d, err := ParseProjectDir(s)
		if err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[s] = err
			continue
		}
		dirs = append(dirs, d)
	}
	return dirs, bad
}

// InitDeletions is the list of folders the init container deletes (EnvDelete), in its order: the
// folders a launcher asked for (AnnotationDelete), then the handed queue entries' folders not among
// them. The init command reports its deletions by position in this list (Report.Deleted), so the
// webhook that writes EnvDelete and the controller that reads the report both use this function.
func InitDeletions(requested []ProjectDir, handed []QueueEntry) []ProjectDir {
	out := slices.Clone(requested)
	for _, q := range handed {
		if !slices.Contains(out, q.Dir) {
			out = append(out, q.Dir)
		}
	}
	return out
}
