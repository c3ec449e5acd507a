// Package binderhub makes the pods a stock BinderHub (z2jh 4 + KubeSpawner 7) submits, from the shared
// captured fixtures in e2e/testdata, runnable on the e2e cluster. A launch changes only what the cluster
// cannot run: the images (local ones), the scheduler (z2jh's user scheduler does not run here) and
// block-cloud-metadata's image (a stand-in). Another user is the same capture with the user name
// replaced; another repository is what BinderHub sends for it (the BINDER_* env and the image).
package binderhub

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/e2e/cluster"
)

// Fixtures in e2e/testdata (copied from the shared fixtures).
const (
	FixtureDynamic     = "z2jh4-binderhub-dynamic.yaml" // user bitnik, storage dynamic
	FixtureDynamicUser = "bitnik"
	FixtureStorageNone = "binderhub-storage-none.yaml" // user dora, no storage
	FixtureNoneUser    = "dora"
	fixtureClaim       = "claim-bitnik.yaml"
	// Namespace is the hub namespace of the captures.
	Namespace = "bhub"
	// BlockCloudMetadata is z2jh's init container.
	BlockCloudMetadata = "block-cloud-metadata"
)

// Repo is a repository as BinderHub launches it.
type Repo struct {
	URL, Commit string
	Image       cluster.Image
	ProjectDir  contract.ProjectDir // the folder DESIGN.md's (GESIS-compatible) naming gives
}

// The repositories of the local images.
var (
	RepoA          = Repo{"https://github.com/binder-examples/requirements", "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d", cluster.RepoA, "gh_binder-examples_requirements"}
	RepoANewCommit = Repo{"https://github.com/binder-examples/requirements", "2e4c5a3f7d1b0c9e8f7a6b5c4d3e2f1a0b9c8d7e", cluster.RepoANewCommit, "gh_binder-examples_requirements"}
	RepoB          = Repo{"https://github.com/binder-examples/conda", "9f8e7d6c5b4a39281706f5e4d3c2b1a098f7e6d5", cluster.RepoB, "gh_binder-examples_conda"}
	RepoLarge      = Repo{"https://github.com/binder-examples/large-home", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", cluster.RepoLarge, "gh_binder-examples_large-home"}
)

// TestdataDir holds the fixtures.
func TestdataDir() string { return filepath.Join(cluster.RepoRoot(), "e2e", "testdata") }

func read(file, fixtureUser, user string, into any) error {
	data, err := os.ReadFile(filepath.Join(TestdataDir(), file))
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict([]byte(strings.ReplaceAll(string(data), fixtureUser, user)), into); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// Pod reads a captured pod with the user name fixtureUser replaced by user everywhere, launching r.
func Pod(file, fixtureUser, user string, r Repo) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := read(file, fixtureUser, user, &pod); err != nil {
		return nil, err
	}
	return ForRepo(&pod, r), nil
}

// Claim is the PVC KubeSpawner creates for user before the pod (the captured one, renamed).
func Claim(user string) (*corev1.PersistentVolumeClaim, error) {
	var pvc corev1.PersistentVolumeClaim
	return &pvc, read(fixtureClaim, FixtureDynamicUser, user, &pvc)
}

// ForRepo returns the pod as BinderHub sends it for r, runnable on the e2e cluster.
func ForRepo(pod *corev1.Pod, r Repo) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.Spec.SchedulerName = "" // the API server defaults it to default-scheduler
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == BlockCloudMetadata {
			pod.Spec.InitContainers[i].Image = cluster.NetworkToolsStandIn.Name
		}
	}
	spec := strings.TrimPrefix(r.URL, "https://github.com/")
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Name != "notebook" {
			continue
		}
		c.Image = r.Image.Name
		for j := range c.Env {
			e := &c.Env[j]
			switch e.Name {
			case "BINDER_REPO_URL":
				e.Value = r.URL
			case "BINDER_REF_URL":
				e.Value = r.URL + "/tree/" + r.Commit
			case "BINDER_REQUEST":
				e.Value = "v2/gh/" + spec + "/HEAD"
			case "BINDER_PERSISTENT_REQUEST":
				e.Value = "v2/gh/" + spec + "/" + r.Commit
			case "JUPYTER_IMAGE", "JUPYTER_IMAGE_SPEC":
				e.Value = r.Image.Name
			}
		}
	}
	return pod
}

// NamedServer returns pod as KubeSpawner makes it for the user's named server `server` (BinderHub with
// allowNamedServers gives every launch a new one): the pod name gets "--<server>", and the servername
// label and annotation are set. Storage is left as it is: with storage type none there is none, and
// the webhook adds the user's one claim.
func NamedServer(pod *corev1.Pod, server string) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.Name = pod.Name + "--" + server
	pod.Labels["hub.jupyter.org/servername"] = server
	pod.Annotations["hub.jupyter.org/servername"] = server
	return pod
}
