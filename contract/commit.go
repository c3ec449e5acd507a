package contract

import "fmt"

// MaxCommitLen is the longest commit (or ref) an update accepts.
const MaxCommitLen = 128

// CheckCommit says whether commit can name an update: 1 to MaxCommitLen bytes of [A-Za-z0-9._-], not
// starting with "." or "-" (it becomes part of file names).
func CheckCommit(commit string) error {
	if commit == "" || len(commit) > MaxCommitLen {
		return fmt.Errorf("the commit must be 1 to %d characters long", MaxCommitLen)
	}
	if commit[0] == '.' || commit[0] == '-' {
		return fmt.Errorf("the commit %q must not start with %q", commit, commit[:1])
	}
	for _, c := range []byte(commit) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("the commit %q may hold only letters, digits, '.', '_' and '-'", commit)
		}
	}
	return nil
}
