// Package patch decides what a BinderHub singleuser pod becomes: a pure core over typed objects that
// knows no HTTP, no JSON patches and no API clients. ShouldMutate says whether a pod is ours; Resolve
// reads what it launches and on which claim, or every reason it cannot be rewritten, as field errors;
// Apply returns the rewritten pod for what the user's registry holds. The webhook reads the registry
// and checks the limit between the two.
package patch

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"k8s.io/apimachinery/pkg/util/validation"
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
	// ClaimNames name the user's claim (added when the pod has none, and the claim a named server
	// must mount) and its pod volume.
	contract.ClaimNames
	// AllowPerServerClaims lets a named server mount a claim of its own (one other than
	// ClaimNameTemplate names for its user). Off, such a pod is refused: its projects would be on a
	// claim that the next launch, under a new server name, never sees again.
	AllowPerServerClaims bool
	// CoLocateUserServers adds a required pod affinity that puts a user's servers on one node, so
	// that all of them can mount the user's ReadWriteOnce claim.
	CoLocateUserServers bool
	// HelperImage is the image of our own binary (binder-projects), whose init command our init
	// container runs (Config.InitCommand); HelperMode says how the binary reaches it. Required.
	HelperImage string
	// HelperMode is how the helper reaches our init container: HelperImageVolume (the default: the
	// image mounted read-only as an image volume, no extra container) or HelperInitContainer (an init
	// container from the image, before ours, copies the binary into a shared emptyDir: for clusters
	// older than Kubernetes 1.35 or runtimes without image volumes).
	HelperMode HelperMode
	// UpdateOnLaunch updates a project whenever it is launched at a commit other than the one the
	// registry records for it. Off, an update runs only when asked for (AnnotationUpdate, or the
	// registry's update queue).
	UpdateOnLaunch bool
	// TrashDays is how many days a deleted project stays in the volume's trash before it goes for good
	// (contract.EnvTrashDays, 0 to MaxTrashDays); 0 deletes at once.
	TrashDays int
	// UsageBudget is how long a start may spend measuring the project folders it did not seed or
	// update (contract.EnvUsageBudget, whole milliseconds, 0 to MaxUsageBudget); 0 measures none.
	UsageBudget time.Duration
}

// The bounds of Config.TrashDays and Config.UsageBudget (contract.EnvTrashDays, contract.EnvUsageBudget).
const (
	MaxTrashDays   = 3650
	MaxUsageBudget = 60 * time.Second
)

// CheckTrashDays checks a --trash-days value: the webhook's and the projects service's, one rule.
func CheckTrashDays(days int) error {
	if days < 0 || days > MaxTrashDays {
		return fmt.Errorf("--trash-days=%d must be 0 (delete at once) to %d", days, MaxTrashDays)
	}
	return nil
}

// HelperMode is how the helper's binary reaches our init container (Config.HelperMode).
type HelperMode string

const (
	// HelperImageVolume mounts our image read-only into our init container as an image volume
	// (Kubernetes' ImageVolume: beta and on by default since 1.35, GA since 1.36; the runtime must
	// support it, containerd 2.1 or later, CRI-O 1.31 or later): one image pull per node, no extra
	// container start per launch.
	HelperImageVolume HelperMode = "image-volume"
	// HelperInitContainer runs an init container from our image, before ours, that copies the binary
	// into a shared emptyDir (binder-projects install-helper): for any cluster, at the cost of one
	// more container start per launch (about 1 s: the kubelet notices an init container's exit only at
	// its next relist).
	HelperInitContainer HelperMode = "init-container"
)

// ParseHelperMode checks a --helper-mode value.
func ParseHelperMode(s string) (HelperMode, error) {
	switch m := HelperMode(s); m {
	case HelperImageVolume, HelperInitContainer:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a helper mode: use %s or %s", s, HelperImageVolume, HelperInitContainer)
}

// The helper's volume, its mount and, in HelperInitContainer mode, its init container
// (Config.HelperImage).
const (
	// HelperBinaryInImage is where the binary is in our image (its entrypoint; hack/image).
	HelperBinaryInImage = "/usr/local/bin/binder-projects"
	// HelperMountPath is where the helper's volume is mounted: read-only in our init container, and
	// writable in the helper's init container (HelperInitContainer mode).
	HelperMountPath = "/binder-projects-helper"
	// HelperBinaryName is the binary's name in the emptyDir (HelperInitContainer mode).
	HelperBinaryName = "binder-projects"
	// HelperVolumeName is the volume that carries the binary: an image volume of our image
	// (HelperImageVolume) or an emptyDir (HelperInitContainer).
	HelperVolumeName = "binder-projects-helper"
	// helperContainerSuffix follows InitContainerName in the name of the helper's init container.
	helperContainerSuffix = "-helper"
)

// HelperContainerName is the name of the init container that installs the helper
// (HelperInitContainer mode).
func (c Config) HelperContainerName() string { return c.InitContainerName + helperContainerSuffix }

// HelperBinaryPath is where our init container finds our binary (Config.InitCommand): inside our
// image mounted at HelperMountPath (HelperImageVolume), or the copy in the emptyDir
// (HelperInitContainer).
func (c Config) HelperBinaryPath() string {
	if c.HelperMode == HelperInitContainer {
		return HelperMountPath + "/" + HelperBinaryName
	}
	return HelperMountPath + HelperBinaryInImage
}

// DefaultConfig is the configuration for a z2jh 4 / BinderHub chart deployment.
func DefaultConfig() Config {
	return Config{
		NotebookContainer:   "notebook",
		InitContainerName:   "binder-projects-init",
		HomeMountPath:       "/home/jovyan",
		ProjectsMountPath:   "/projects",
		ClaimNames:          contract.DefaultClaimNames(),
		CoLocateUserServers: true,
		HelperMode:          HelperImageVolume,
		TrashDays:           7,
		UsageBudget:         contract.DefaultUsageBudget * time.Millisecond,
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
	for _, p := range []struct{ flag, value string }{
		{"home-mount-path", c.HomeMountPath},
		{"projects-mount-path", c.ProjectsMountPath},
	} {
		if p.value != "" && nested(p.value, HelperMountPath) {
			errs = append(errs, fmt.Errorf("--%s=%q must not contain or be inside %s, where the helper is mounted", p.flag, p.value, HelperMountPath))
		}
	}
	switch {
	case c.HelperImage == "":
		errs = append(errs, errors.New("--helper-image must name the image of binder-projects itself (the chart sets its own image): the project's init container runs its binary"))
	default:
		if strings.ContainsAny(c.HelperImage, " \t\r\n") {
			errs = append(errs, fmt.Errorf("--helper-image=%q must be an image reference, without white space", c.HelperImage))
		}
		if msgs := validation.IsDNS1123Label(c.HelperContainerName()); c.HelperMode == HelperInitContainer && len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--init-container-name=%q: the helper's init container %q is not a valid name: %s", c.InitContainerName, c.HelperContainerName(), strings.Join(msgs, "; ")))
		}
	}
	if _, err := ParseHelperMode(string(c.HelperMode)); err != nil {
		errs = append(errs, fmt.Errorf("--helper-mode: %w", err))
	}
	if err := CheckTrashDays(c.TrashDays); err != nil {
		errs = append(errs, err)
	}
	if c.UsageBudget < 0 || c.UsageBudget > MaxUsageBudget || c.UsageBudget%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("--usage-budget=%s must be whole milliseconds from 0 (measure nothing) to %s", c.UsageBudget, MaxUsageBudget))
	}
	return errors.Join(append(errs, c.ClaimNames.Validate())...)
}

// nested reports whether a and b are the same path or one lies below the other.
func nested(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}
