// Package patch decides what a BinderHub singleuser pod becomes: a pure core over typed objects that
// knows no HTTP, no JSON patches and no API clients. ShouldMutate says whether a pod is ours; Mutate
// returns the rewritten pod or every reason it cannot, as field errors.
package patch

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Config is what an operator can set. Its zero value is not usable: start from DefaultConfig.
type Config struct {
	// NotebookContainer is the name of KubeSpawner's main container.
	NotebookContainer string
	// InitContainerName is the name of the init container binder-projects appends.
	InitContainerName string
	// HomeMountPath is where the notebook container has the user's home, and where the image keeps
	// the repository's files (repo2docker's $HOME).
	HomeMountPath string
	// ProjectsMountPath is where the whole user volume, every project, is mounted.
	ProjectsMountPath string
	// PodNamePrefix is the part of KubeSpawner's pod name before the user-server slug (z2jh:
	// "jupyter-"), used to name the claim the way KubeSpawner would.
	PodNamePrefix string
	// ClaimNameTemplate names the user's PersistentVolumeClaim when the pod has none;
	// "{user_server}" is replaced by the pod name without PodNamePrefix.
	ClaimNameTemplate string
	// VolumeNameTemplate names the pod volume added for that claim, with the same placeholder.
	VolumeNameTemplate string
	// CoLocateUserServers adds a required pod affinity that puts a user's servers on one node, so
	// that all of them can mount the user's ReadWriteOnce claim.
	CoLocateUserServers bool
}

// PlaceholderUserServer is replaced, in the name templates, by the user-server slug KubeSpawner put
// into the pod name.
const PlaceholderUserServer = "{user_server}"

// DefaultConfig is the configuration for a z2jh 4 / BinderHub chart deployment.
func DefaultConfig() Config {
	return Config{
		NotebookContainer:   "notebook",
		InitContainerName:   "binder-projects-init",
		HomeMountPath:       "/home/jovyan",
		ProjectsMountPath:   "/projects",
		PodNamePrefix:       "jupyter-",
		ClaimNameTemplate:   "claim-" + PlaceholderUserServer,
		VolumeNameTemplate:  "volume-" + PlaceholderUserServer,
		CoLocateUserServers: true,
	}
}

// Validate reports every setting that cannot work, in one error.
func (c Config) Validate() error {
	var errs []error
	for _, s := range []struct{ flag, value string }{
		{"notebook-container", c.NotebookContainer},
		{"init-container-name", c.InitContainerName},
		{"home-mount-path", c.HomeMountPath},
		{"projects-mount-path", c.ProjectsMountPath},
		{"claim-name-template", c.ClaimNameTemplate},
		{"volume-name-template", c.VolumeNameTemplate},
	} {
		if s.value == "" {
			errs = append(errs, fmt.Errorf("--%s must not be empty", s.flag))
		}
	}
	for _, p := range []struct{ flag, value string }{
		{"home-mount-path", c.HomeMountPath},
		{"projects-mount-path", c.ProjectsMountPath},
	} {
		if p.value != "" && (!path.IsAbs(p.value) || path.Clean(p.value) != p.value || p.value == "/") {
			errs = append(errs, fmt.Errorf("--%s=%q must be a clean absolute path other than /", p.flag, p.value))
		}
	}
	if c.HomeMountPath != "" && c.ProjectsMountPath != "" && nested(c.HomeMountPath, c.ProjectsMountPath) {
		errs = append(errs, fmt.Errorf("--home-mount-path=%q and --projects-mount-path=%q must not contain one another: the init container must see the image's home", c.HomeMountPath, c.ProjectsMountPath))
	}
	for _, t := range []struct{ flag, value string }{
		{"claim-name-template", c.ClaimNameTemplate},
		{"volume-name-template", c.VolumeNameTemplate},
	} {
		if t.value != "" && !strings.Contains(t.value, PlaceholderUserServer) {
			errs = append(errs, fmt.Errorf("--%s=%q must contain %s, or every user would share one claim", t.flag, t.value, PlaceholderUserServer))
		}
	}
	return errors.Join(errs...)
}

// nested reports whether a and b are the same path or one lies below the other.
func nested(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}
