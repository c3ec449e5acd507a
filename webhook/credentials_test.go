package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
)

// sentinelCredential is the token the URLs below carry; it must reach no log line, response or
// annotation.
const sentinelCredential = "glpat-SENTINELwebhook"

func TestNoCredentialInARepoURLReachesTheLogTheResponseOrTheAnnotations(t *testing.T) {
	urls := []struct {
		sentence, url string
		refused       bool
	}{
		{"a URL that does not parse (bad escape)", "https://oauth2:" + sentinelCredential + "@gitlab.example.org/group/repo%zz", true},
		{"a URL that does not parse (bad port)", "https://oauth2:" + sentinelCredential + "@gitlab.example.org:abc/repo", true},
		{"an scp-like token@host:path", sentinelCredential + "@github.com:owner/repo", false},
		{"an scp-like user:token@host:path", "user:" + sentinelCredential + "@git.example.org:owner/repo", false},
		{"a token as the user name", "https://" + sentinelCredential + "@github.com/o/r", false},
		{"a token as the password", "https://x-access-token:" + sentinelCredential + "@github.com/o/r", false},
		{"percent-encoded user info", "https://oauth2%40corp:" + sentinelCredential + "%2F@gitlab.com/group/project.git", false},
		{"a token before a path with an @", "https://oauth2:" + sentinelCredential + "@git.example.org/group/repo@v1", false},
		{"a password with an unencoded /", "https://user:x/" + sentinelCredential + "@github.com/o/r", true},
		{"a URL with one slash after the scheme", "https:/" + sentinelCredential + "@github.com/o/r", true},
	}
	entries := []struct {
		name string
		set  func(pod *corev1.Pod, url string)
	}{
		{"annotation", func(pod *corev1.Pod, url string) {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[contract.AnnotationRepoURL] = url
		}},
		{"env " + contract.EnvRepoURL, func(pod *corev1.Pod, url string) {
			for i := range pod.Spec.Containers {
				for j := range pod.Spec.Containers[i].Env {
					if pod.Spec.Containers[i].Env[j].Name == contract.EnvRepoURL {
						pod.Spec.Containers[i].Env[j].Value = url
					}
				}
			}
		}},
	}
	for _, tc := range urls {
		for _, entry := range entries {
			t.Run(tc.sentence+" from the "+entry.name, func(t *testing.T) {
				var in corev1.Pod
				if err := json.Unmarshal(podOf(t, "z2jh4-binderhub-dynamic"), &in); err != nil {
					t.Fatal(err)
				}
				entry.set(&in, tc.url)
				podJSON, err := json.Marshal(&in)
				if err != nil {
					t.Fatal(err)
				}
				logs := &syncBuffer{}
				log := funcr.NewJSON(func(s string) { logs.Write([]byte(s + "\n")) }, funcr.Options{Verbosity: 10})
				out, resp, err := Review(context.Background(), NewWebhook(testConfig(), log), podJSON)
				if err != nil {
					t.Fatal(err)
				}
				if tc.refused == resp.Allowed {
					t.Fatalf("allowed = %v, want refused = %v: %+v", resp.Allowed, tc.refused, resp.Result)
				}
				if !strings.Contains(logs.String(), "pod refused") && !strings.Contains(logs.String(), "pod mutated") {
					t.Errorf("the log does not say what was done:\n%s", logs.String())
				}
				if strings.Contains(logs.String(), sentinelCredential) {
					t.Errorf("the token reached the log:\n%s", logs.String())
				}
				b, err := json.Marshal(resp)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), sentinelCredential) {
					t.Errorf("the token reached the response:\n%s", b)
				}
				if resp.Allowed {
					var got corev1.Pod
					if err := json.Unmarshal(out, &got); err != nil {
						t.Fatal(err)
					}
					for k, v := range got.Annotations {
						if strings.Contains(v, sentinelCredential) {
							t.Errorf("the token reached the annotation %s: %q", k, v)
						}
					}
				}
			})
		}
	}
}
