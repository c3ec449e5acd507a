package patch

import (
	corev1 "k8s.io/api/core/v1"
)

// Reasons ShouldMutate gives for leaving a pod alone. They are short, for a log line.
const (
	ReasonNotSingleuser   = "not a singleuser server pod (label " + LabelComponent + " is not " + ComponentSingleuser + ")"
	ReasonAlreadyMutated  = "already mutated (annotation " + AnnotationStatus + "=" + StatusInjected + ")"
	ReasonNoProjectSource = "no project: neither annotation " + AnnotationProject + " nor " + AnnotationRepoURL + " nor env " + EnvRepoURL + " of the notebook container (a spawn without Binder)"
)

// ShouldMutate reports whether pod is a singleuser pod that binder-projects rewrites and, when it is
// not, why. It looks only at the pod.
func ShouldMutate(pod *corev1.Pod, cfg Config) (bool, string) {
	switch {
	case pod.Labels[LabelComponent] != ComponentSingleuser:
		return false, ReasonNotSingleuser
	case pod.Annotations[AnnotationStatus] == StatusInjected:
		return false, ReasonAlreadyMutated
	case pod.Annotations[AnnotationProject] != "", pod.Annotations[AnnotationRepoURL] != "":
		return true, ""
	}
	if c := findContainer(pod.Spec.Containers, cfg.NotebookContainer); c >= 0 {
		if e := findEnv(pod.Spec.Containers[c].Env, EnvRepoURL); e >= 0 && pod.Spec.Containers[c].Env[e].Value != "" {
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
