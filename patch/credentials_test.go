package patch

import (
	"encoding/json"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/contract/contracttest"
	corev1 "k8s.io/api/core/v1"
)

func TestNoCredentialInTheRepoURLReachesTheRefusalOrTheAnnotationsFromEitherEntry(t *testing.T) {
	entries := []struct {
		name string
		set  func(pod *corev1.Pod, url string)
	}{
		{"annotation", func(pod *corev1.Pod, url string) { pod.Annotations[contract.AnnotationRepoURL] = url }},
		{"env " + contract.EnvRepoURL, func(pod *corev1.Pod, url string) {
			c := &pod.Spec.Containers[findContainer(pod.Spec.Containers, testConfig().NotebookContainer)]
			c.Env[findEnv(c.Env, contract.EnvRepoURL)].Value = url
		}},
	}
	for _, tc := range contracttest.CredentialCases {
		for _, entry := range entries {
			t.Run(tc.Sentence+" (from the "+entry.name+")", func(t *testing.T) {
				pod := fixture(t, "z2jh4-binderhub-dynamic")
				entry.set(pod, tc.In)
				got, errs := mutate(pod, testConfig(), Registered{})
				if tc.Refused {
					if len(errs) != 1 {
						t.Fatalf("errors = %v, want one, on the URL", errs)
					}
					if errs[0].BadValue != tc.Redacted {
						t.Errorf("the 422's field value = %q, want the redacted URL %q", errs[0].BadValue, tc.Redacted)
					}
					if s := contracttest.LeaksSecret(errs.ToAggregate().Error()); s != "" {
						t.Errorf("the refusal %q shows the secret %q", errs.ToAggregate().Error(), s)
					}
					return
				}
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				if u := got.Annotations[contract.AnnotationRepoURL]; u != tc.Redacted {
					t.Errorf("the %s annotation = %q, want %q", contract.AnnotationRepoURL, u, tc.Redacted)
				}
				want, _ := contract.ProjectDirOf(tc.Bare)
				if d := got.Annotations[contract.AnnotationProjectDir]; d != string(want) {
					t.Errorf("the project folder = %q, want %q, the folder of %q", d, want, tc.Bare)
				}
				b, err := json.Marshal(got.Annotations)
				if err != nil {
					t.Fatal(err)
				}
				if s := contracttest.LeaksSecret(string(b)); s != "" {
					t.Errorf("the annotations hold the secret %q: %s", s, b)
				}
			})
		}
	}
}
