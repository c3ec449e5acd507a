package contracttest

import "testing"

// CollidingNames finds two user names to which slug (KubeSpawner's safe slug of a user name) gives one
// value, so that a claim name template names one claim for both: a name that is not already a slug
// becomes its letters and digits, "---" and 32 bits of its SHA-256, and with names users choose (open
// sign-up), a few hundred thousand tries find two that share the hash. The search is deterministic;
// the test fails if it finds none.
func CollidingNames(tb testing.TB, slug func(name string) string) (first, second, shared string) {
	tb.Helper()
	const marks = "!#$%&*+,.:;=?@^_~"
	seen := map[string]string{}
	for i := 0; i < 4_000_000; i++ {
		name := "Mallory"
		for n := i; ; n /= len(marks) {
			name += string(marks[n%len(marks)])
			if n < len(marks) {
				break
			}
		}
		s := slug(name)
		if other, found := seen[s]; found {
			return other, name, s
		}
		seen[s] = name
	}
	tb.Fatal("no two user names with one slug found")
	return "", "", ""
}
