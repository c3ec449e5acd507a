package controller

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// sentinelCredential is the token the URLs below carry; it must never reach the claim.
const sentinelCredential = "glpat-SENTINELcontroller"

func TestTheRegistryNeverRecordsACredentialOfARepoURL(t *testing.T) {
	tests := []struct {
		sentence, url, wantRepoURL string
		// onAnnotation puts url on the admitted pod's annotation, as a pod admitted by an older
		// webhook may carry it, instead of launching the pod from it.
		onAnnotation bool
	}{
		{"a launch from an scp-like token@host:path", sentinelCredential + "@github.com:binder-examples/requirements",
			"ssh://github.com/binder-examples/requirements", false},
		{"a launch from an scp-like user:token@host:path", "user:" + sentinelCredential + "@github.com:binder-examples/requirements",
			"ssh://github.com/binder-examples/requirements", false},
		{"a launch from a URL with a token as the user name", "https://" + sentinelCredential + "@github.com/binder-examples/requirements",
			"https://github.com/binder-examples/requirements", false},
		{"a launch from a URL with percent-encoded user info", "https://oauth2%40corp:" + sentinelCredential + "%2F@github.com/binder-examples/requirements",
			"https://github.com/binder-examples/requirements", false},
		{"a pod whose annotation holds an scp-like URL with a token", sentinelCredential + "@github.com:binder-examples/requirements",
			"ssh://github.com/binder-examples/requirements", true},
		{"a pod whose annotation holds a URL with a token as the password", "https://oauth2:" + sentinelCredential + "@github.com/binder-examples/requirements",
			"https://github.com/binder-examples/requirements", true},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			in := fixturePod(t, "z2jh4-binderhub-dynamic")
			if !tc.onAnnotation {
				c := &in.Spec.Containers[0]
				for i := range c.Env {
					if c.Env[i].Name == contract.EnvRepoURL {
						c.Env[i].Value = tc.url
					}
				}
			}
			pod, errs := mutatePod(in, testConfig(), patch.Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if tc.onAnnotation {
				pod.Annotations[contract.AnnotationRepoURL] = tc.url
			}
			pod.UID = "uid-1"
			pod.CreationTimestamp = metav1.NewTime(admitted)
			pod.Status.Phase = corev1.PodRunning
			pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "binder-projects-init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, FinishedAt: metav1.NewTime(finished), ContainerID: "containerd://1",
					Message: report(contract.Report{Project: contract.ProjectSeeded})}}},
			}
			c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{})).Build()
			reconcile(t, c, pod)

			var pvc corev1.PersistentVolumeClaim
			if err := c.Get(context.Background(), types.NamespacedName{Namespace: "bhub", Name: "claim-bitnik"}, &pvc); err != nil {
				t.Fatal(err)
			}
			for k, v := range pvc.Annotations {
				if strings.Contains(v, sentinelCredential) {
					t.Errorf("the claim's annotation %s holds the token: %s", k, v)
				}
			}
			r := registryOn(t, c)
			if len(r.Projects) != 1 || r.Projects[0].RepoURL != tc.wantRepoURL || r.Projects[0].Dir != "gh_binder-examples_requirements" {
				t.Errorf("registry projects = %+v, want gh_binder-examples_requirements from %s", r.Projects, tc.wantRepoURL)
			}
		})
	}
}
