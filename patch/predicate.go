package patch

import (
	"github.com/binder-projects/binder-projects/contract"
	corev1 "k8s.io/api/core/v1"
)

// Reasons ShouldMutate gives for leaving a pod alone. They are short, for a log line.
const (
	ReasonNotSingleuser   = "not a singleuser server pod (label " + contract.LabelComponent + " is not " + contract.ComponentSingleuser + ")"
	ReasonAlreadyMutated  = "already mutated (annotation " + contract.AnnotationStatus + "=" + contract.StatusInjected + ")"
	ReasonNoProjectSource = "no project: neither annotation " + contract.AnnotationProject + " nor " + contract.AnnotationRepoURL + " nor env " + contract.EnvRepoURL + " of the notebook container (a spawn without Binder)"
)

// ShouldMutate reports whether pod is a singleuser pod that binder-projects rewrites and, when it is
// not, why. It looks only at the pod.
func ShouldMutate(pod *corev1.Pod, cfg Config) (bool, string) {
	switch {
	case pod.Labels[contract.LabelComponent] != contract.ComponentSingleuser:
		return false, ReasonNotSingleuser
	case pod.Annotations[contract.AnnotationStatus] == contract.StatusInjected:
		return false, ReasonAlreadyMutated
	case pod.Annotations[contract.AnnotationProject] != "", pod.Annotations[contract.AnnotationRepoURL] != "":
		return true, ""
	}
	if c := findContainer(pod.Spec.Containers, cfg.NotebookContainer); c >= 0 {
		if e := findEnv(pod.Spec.Containers[c].Env, contract.EnvRepoURL); e >= 0 && pod.Spec.Containers[c].Env[e].Value != "" {
			return true, ""
		}
	}
	return false, ReasonNoProjectSource
}

func findContainer(cs []corev1.Container, name string) int {
	for i := range cs {
		if cs[i].Name == name {
			return i
		}
	}
	return -1
}

func findEnv(env []corev1.EnvVar, name string) int {
	for i := range env {
		if env[i].Name == name {
			return i
		}
	}
	return -1
}
