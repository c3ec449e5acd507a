package patch

import (
	"slices"
	"strings"

	"github.com/binder-projects/binder-projects/contract"
	corev1 "k8s.io/api/core/v1"
)

// OpenServers picks, from pods (what the webhook found of the user's singleuser pods), the other
// servers of pod's user that have a project open on claim, pod's claim (Launch.Claim), sorted by pod
// name. A pod counts if binder-projects mutated it (AnnotationStatus) and it names a valid project
// folder (AnnotationProjectDir), it is not pod itself (by namespace and name), it belongs to the same
// user (the same hub.jupyter.org/username label, not empty, and the same raw user name annotation),
// its claim is claim (AnnotationClaim), and it has not ended: Succeeded and Failed pods do not count,
// a terminating pod counts until it is gone (its kernels may still write). It looks only at the pods
// it is given.
func OpenServers(pod *corev1.Pod, claim string, pods []corev1.Pod) []contract.OpenServer {
	user := pod.Labels[contract.AnnotationHubUsername]
	if claim == "" || user == "" {
		return nil
	}
	var open []contract.OpenServer
	for i := range pods {
		o := &pods[i]
		switch {
		case o.Namespace == pod.Namespace && o.Name == pod.Name,
			o.Annotations[contract.AnnotationStatus] != contract.StatusInjected,
			o.Labels[contract.LabelComponent] != contract.ComponentSingleuser,
			o.Labels[contract.AnnotationHubUsername] != user,
			o.Annotations[contract.AnnotationHubUsername] != pod.Annotations[contract.AnnotationHubUsername],
			o.Status.Phase == corev1.PodSucceeded, o.Status.Phase == corev1.PodFailed,
			o.Annotations[contract.AnnotationClaim] != claim:
			continue
		}
		dir, err := contract.LaunchedDir(o.Annotations)
		if err != nil {
			continue
		}
		open = append(open, contract.OpenServer{Pod: o.Name, Server: o.Annotations[contract.AnnotationHubServername],
			Stopping: o.DeletionTimestamp != nil, Dir: dir})
	}
	slices.SortFunc(open, func(a, b contract.OpenServer) int { return strings.Compare(a.Pod, b.Pod) })
	return open
}

// deferUpdate is the deferral of an update asked for (by queued, the annotation, or else on launch)
// of the project in dir, when servers among open have it open; nil when none has.
func deferUpdate(dir contract.ProjectDir, open []contract.OpenServer, queued *contract.QueueEntry, annotation bool) *contract.UpdateDeferral {
	var d contract.UpdateDeferral
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
		d.Asked = contract.UpdateAskedQueue
	case annotation:
		d.Asked = contract.UpdateAskedAnnotation
	default:
		d.Asked = contract.UpdateAskedOnLaunch
	}
	return &d
}
