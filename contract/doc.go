// Package contract is what the parts of binder-projects agree on, and owned by none of them: the
// webhook that rewrites a singleuser pod, the registry controller that records what its init container
// did, the projects service and CLI that show and queue changes, and the init command that works on
// the user's volume.
//
//   - annotations.go: every annotation and label key, the API of binder-projects on pods and claims;
//   - env.go: the init container's inputs (environment variables);
//   - report.go: the init command's report, written to the termination message and read back;
//   - queue.go: an entry of the registry's queues, and what the webhook hands to a pod;
//   - deferral.go: an update deferred because the project is open elsewhere;
//   - naming.go: the project folder a repository URL maps to, and the one check of a folder name
//     (ProjectDir, the checked type every later layer takes);
//   - credentials.go: a repository URL without its user info;
//   - slugs.go, claims.go: KubeSpawner's slugs and the names of a user's claim and volume (ClaimNames,
//     the settings the webhook and the projects service share);
//   - commit.go: the commit a launch names.
//
// It depends on the standard library and apimachinery's name validation only, so the init command
// links it without an API client.
package contract
