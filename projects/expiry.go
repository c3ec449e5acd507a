package projects

import (
	"fmt"
	"time"
)

// ExpiresAt is when p expires, with projects expiring after being unused for after (serve's
// --expire-projects-after): its last use plus after. The zero time when it never does: expiry is off
// (after 0), or the last use is not recorded (a project is never expired on an unknown date). The
// expiry controller sweeps hourly, so an expired project leaves within the hour after.
func (p Project) ExpiresAt(after time.Duration) time.Time {
	if after <= 0 || p.LastUsed.IsZero() {
		return time.Time{}
	}
	return p.LastUsed.Add(after)
}

// Expired says whether p has expired at now: it was not used for after or longer (ExpiresAt). Whether
// a running server has it open is the expiry controller's to check: such a project is never expired.
func (p Project) Expired(after time.Duration, now time.Time) bool {
	at := p.ExpiresAt(after)
	return !at.IsZero() && !now.Before(at)
}

// SetExpires sets l.Expires (ExpiresAt), with projects expiring after being unused for after; with
// expiry off (0) it stays nil.
func (l *Listed) SetExpires(after time.Duration) {
	if at := l.ExpiresAt(after); !at.IsZero() {
		at = at.UTC()
		l.Expires = &at
	}
}

// WithExpiry sets each project's Expires (SetExpires).
func WithExpiry(list []Listed, after time.Duration) []Listed {
	for i := range list {
		list[i].SetExpires(after)
	}
	return list
}

// ExpireAfterWords says after (--expire-projects-after) for a person, as the projects page and the
// ProjectExpired Event say it: "90 days" when it is whole days ("1 day"), else Go's form ("36h0m0s").
func ExpireAfterWords(after time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case after == day:
		return "1 day"
	case after%day == 0:
		return fmt.Sprintf("%d days", after/day)
	}
	return after.String()
}
