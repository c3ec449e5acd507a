package contract

import (
	"errors"
	"testing"

	"github.com/binder-projects/binder-projects/contract/contracttest"
)

func TestRedactRepoURLDropsTheUserPartWhetherOrNotTheURLParses(t *testing.T) {
	for _, tc := range contracttest.CredentialCases {
		t.Run(tc.Sentence, func(t *testing.T) {
			got := RedactRepoURL(tc.In)
			if got != tc.Redacted {
				t.Errorf("RedactRepoURL(%q) = %q, want %q", tc.In, got, tc.Redacted)
			}
			if again := RedactRepoURL(got); again != got {
				t.Errorf("RedactRepoURL is not idempotent: %q, then %q", got, again)
			}
		})
	}
}

func TestAURLWithCredentialsNamesTheFolderOfTheURLWithoutThemAndNoErrorShowsThem(t *testing.T) {
	for _, tc := range contracttest.CredentialCases {
		t.Run(tc.Sentence, func(t *testing.T) {
			dir, err := ProjectDirOf(tc.In)
			if tc.Refused {
				if err == nil || !errors.Is(err, ErrInvalidRepoURL) && !errors.Is(err, ErrNoRepositoryPath) {
					t.Fatalf("ProjectDirOf(%q) = (%q, %v), want it refused", tc.In, dir, err)
				}
				if s := contracttest.LeaksSecret(err.Error()); s != "" {
					t.Errorf("the error %q shows the secret %q", err, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("ProjectDirOf(%q): %v", tc.In, err)
			}
			want, err := ProjectDirOf(tc.Bare)
			if err != nil {
				t.Fatalf("ProjectDirOf(%q): %v", tc.Bare, err)
			}
			if dir != want {
				t.Errorf("ProjectDirOf(%q) = %q, but without credentials (%q) it is %q", tc.In, dir, tc.Bare, want)
			}
		})
	}
}
