package contract

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ClaimNames are the settings that name a user's claim and the pod volume that holds it, exactly as
// KubeSpawner names them: shared by the webhook (serve, mutate), the projects service and the admin
// CLI, which must agree on them. Start from DefaultClaimNames.
type ClaimNames struct {
	// ClaimNameTemplate names the user's PersistentVolumeClaim, with KubeSpawner's placeholders
	// ({username}, {servername}, {user_server}, ...) filled exactly as KubeSpawner fills them
	// (SlugScheme) from the raw names in the pod's hub.jupyter.org/username and
	// hub.jupyter.org/servername annotations. The user's projects live on one claim per user, whatever
	// the server.
	ClaimNameTemplate string
	// VolumeNameTemplate names the pod volume added for that claim, with the same placeholders.
	VolumeNameTemplate string
	// SlugScheme is KubeSpawner's slug_scheme: SlugSafe (KubeSpawner 7) or SlugEscape (older).
	SlugScheme SlugScheme
}

// DefaultClaimNames are the names of a z2jh 4 / BinderHub chart deployment.
func DefaultClaimNames() ClaimNames {
	return ClaimNames{
		ClaimNameTemplate:  "claim-" + PlaceholderUsername,
		VolumeNameTemplate: "volume-" + PlaceholderUsername,
		SlugScheme:         SlugSafe,
	}
}

// PlaceholderUserServer is replaced, in the name templates, by KubeSpawner's {user_server}: the user
// and server slugs joined (just the user's for the default server).
const PlaceholderUserServer = "{user_server}"

// Validate reports every setting that cannot name a claim, in one error.
func (c ClaimNames) Validate() error { return errors.Join(c.errors()...) }

// errors are the errors of the settings, one each.
func (c ClaimNames) errors() []error {
	var errs []error
	for _, s := range []struct{ flag, value string }{
		{"claim-name-template", c.ClaimNameTemplate},
		{"volume-name-template", c.VolumeNameTemplate},
	} {
		if s.value == "" {
			errs = append(errs, fmt.Errorf("--%s must not be empty", s.flag))
		}
	}
	if _, err := ParseSlugScheme(string(c.SlugScheme)); err != nil {
		errs = append(errs, fmt.Errorf("--slug-scheme: %w", err))
	} else {
		for _, t := range []struct{ flag, value string }{
			{"claim-name-template", c.ClaimNameTemplate},
			{"volume-name-template", c.VolumeNameTemplate},
		} {
			if t.value == "" {
				continue
			}
			a, err := ExpandNameTemplate(t.value, c.SlugScheme, "alice", "")
			if err != nil {
				errs = append(errs, fmt.Errorf("--%s=%q: %w", t.flag, t.value, err))
				continue
			}
			if b, _ := ExpandNameTemplate(t.value, c.SlugScheme, "bob", ""); a == b {
				errs = append(errs, fmt.Errorf("--%s=%q must contain %s (or %s), or every user would share one claim", t.flag, t.value, PlaceholderUsername, PlaceholderUserServer))
			}
		}
	}
	return errs
}

// ClaimName is the user's claim: ClaimNameTemplate for the raw JupyterHub user and server names.
func (c ClaimNames) ClaimName(user, server string) (string, error) {
	return c.objectName(c.ClaimNameTemplate, user, server)
}

// VolumeName is the pod volume that holds the user's claim: VolumeNameTemplate for the raw names.
func (c ClaimNames) VolumeName(user, server string) (string, error) {
	return c.objectName(c.VolumeNameTemplate, user, server)
}

// objectName expands tmpl and checks that the result can name a claim or volume (a DNS-1123 label:
// the older escape scheme can give names that are not).
func (c ClaimNames) objectName(tmpl, user, server string) (string, error) {
	name, err := ExpandNameTemplate(tmpl, c.SlugScheme, user, server)
	if err != nil {
		return "", err
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return "", fmt.Errorf("%q (from template %q) is not a valid name: %s", name, tmpl, strings.Join(msgs, "; "))
	}
	return name, nil
}
