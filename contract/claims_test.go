package contract

import (
	"strings"
	"testing"
)

// KubeSpawner's delete_forever deletes, when a user is deleted, the default server's claim: its
// pvc_name_template expanded with no server name; when a named server is deleted, the template's
// claim only if the template contains {servername}. These are KubeSpawner's own outputs (the shared
// fixture), so the claims binder-projects names get exactly that lifecycle as docs/deployments.md says.
func TestTheUsersClaimGetsKubeSpawnersLifecycle(t *testing.T) {
	cfg := DefaultClaimNames()
	for _, row := range slugFixtureRows(t) {
		if row.scheme != SlugSafe {
			continue
		}
		ours, err := cfg.ClaimName(row.user, row.server)
		if err != nil {
			t.Fatal(err)
		}
		// Deleted with the user when KubeSpawner's pvc_name_template is claim-{username}, as the docs
		// tell operators to set: the default server's claim is ours, for every user.
		if want := "claim-" + row.username; ours != want {
			t.Errorf("%q/%q: our claim %s, KubeSpawner's default-server claim %s", row.user, row.server, ours, want)
		}
		// Never deleted with a named server: the template has no {servername}.
		if strings.Contains(cfg.ClaimNameTemplate, PlaceholderServername) {
			t.Fatalf("the default claim template %q names a claim per server", cfg.ClaimNameTemplate)
		}
		// With KubeSpawner's own default, claim-{user_server}, the default server's claim is ours
		// except where KubeSpawner hashes the joined name (a user-name slug of 47 or 48 characters).
		if row.server == "" {
			kubespawnerDefault := "claim-" + row.userServer
			if long := len(row.username) >= 47; (kubespawnerDefault == ours) == long {
				t.Errorf("%q: KubeSpawner's default claim %s, ours %s (slug of %d characters): the docs' rule is wrong",
					row.user, kubespawnerDefault, ours, len(row.username))
			}
		}
	}
}

// initContainerHelperConfig is testConfig with the helper's init container (HelperInitContainer).
