package patch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// OpenServer is another server of the same user that has a project open: a pod that binder-projects
// mutated, mounting the same claim, that has not ended. Files an update changes would change under
// its running kernels and editor, so a launch of that project gets no update (UpdateDeferral).
type OpenServer struct {
	// Pod is the server's pod.
	Pod string `json:"pod"`
	// Server is its server name (hub.jupyter.org/servername), "" for the user's default server.
	Server string `json:"server"`
	// Stopping says the pod is being deleted (it counts until it is gone: its kernels may still write).
	Stopping bool `json:"stopping,omitempty"`
	// Dir is the project folder it has open at its home (its AnnotationProjectDir).
	Dir string `json:"-"`
}

// How an update was asked for, in UpdateDeferral.Asked: the strongest of the ways that asked.
const (
	// UpdateAskedQueue: a request queued on the claim (the projects page's "Update"); it stays queued.
	UpdateAskedQueue = "queue"
	// UpdateAskedAnnotation: the pod annotation AnnotationUpdate.
	UpdateAskedAnnotation = "annotation"
	// UpdateAskedOnLaunch: Config.UpdateOnLaunch, the launched commit being other than the recorded one.
	UpdateAskedOnLaunch = "update-on-launch"
)

// UpdateDeferral is the value of AnnotationUpdateDeferred: an update was asked for but not handed to
// this launch, because the project is open in the user's other servers.
type UpdateDeferral struct {
	// Asked is how the update was asked for (UpdateAskedQueue, UpdateAskedAnnotation or
	// UpdateAskedOnLaunch).
	Asked string `json:"asked"`
	// Open are the user's other servers that have the project open, by pod name.
	Open []OpenServer `json:"open"`
}

// DeferredUpdate reads AnnotationUpdateDeferred: why an update asked for was not handed to pod's init
// container, nil if none was deferred; a value that does not parse is an error.
func DeferredUpdate(pod *corev1.Pod) (*UpdateDeferral, error) {
	s, ok := pod.Annotations[AnnotationUpdateDeferred]
	if !ok || s == "" {
		return nil, nil
	}
	var d UpdateDeferral
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationUpdateDeferred, err)
	}
	return &d, nil
}

// OpenServers picks, from pods (what the webhook found of the user's singleuser pods), the other
// servers of pod's user that have a project open on claim, pod's claim (UserClaim), sorted by pod
// name. A pod counts if binder-projects mutated it (AnnotationStatus) and it names its project folder
// (AnnotationProjectDir), it is not pod itself (by namespace and name), it belongs to the same user
// (the same hub.jupyter.org/username label, not empty, and the same raw user name annotation), it
// mounts claim, and it has not ended: Succeeded and Failed pods do not count, a terminating pod counts
// until it is gone (its kernels may still write). It looks only at the pods it is given.
func OpenServers(pod *corev1.Pod, claim string, cfg Config, pods []corev1.Pod) []OpenServer {
	user := pod.Labels[AnnotationHubUsername]
	if claim == "" || user == "" {
		return nil
	}
	var open []OpenServer
	for i := range pods {
		o := &pods[i]
		switch {
		case o.Namespace == pod.Namespace && o.Name == pod.Name,
			o.Annotations[AnnotationStatus] != StatusInjected,
			o.Annotations[AnnotationProjectDir] == "",
			o.Labels[LabelComponent] != ComponentSingleuser,
			o.Labels[AnnotationHubUsername] != user,
			o.Annotations[AnnotationHubUsername] != pod.Annotations[AnnotationHubUsername],
			o.Status.Phase == corev1.PodSucceeded, o.Status.Phase == corev1.PodFailed,
			UserClaim(o, cfg) != claim:
			continue
		}
		open = append(open, OpenServer{Pod: o.Name, Server: o.Annotations[AnnotationHubServername],
			Stopping: o.DeletionTimestamp != nil, Dir: o.Annotations[AnnotationProjectDir]})
	}
	slices.SortFunc(open, func(a, b OpenServer) int { return strings.Compare(a.Pod, b.Pod) })
	return open
}

// deferUpdate is the deferral of an update asked for (by queued, the annotation, or else on launch)
// of the project in dir, when servers among open have it open; nil when none has.
func deferUpdate(dir string, open []OpenServer, queued *QueuedUpdate, annotation bool) *UpdateDeferral {
	var d UpdateDeferral
	for _, o := range open {
		if o.Dir == dir {
			d.Open = append(d.Open, o)
		}
	}
	if len(d.Open) == 0 {
		return nil
	}
	switch {
	case queued != nil:
		d.Asked = UpdateAskedQueue
	case annotation:
		d.Asked = UpdateAskedAnnotation
	default:
		d.Asked = UpdateAskedOnLaunch
	}
	return &d
}
