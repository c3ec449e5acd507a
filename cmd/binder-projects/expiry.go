package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// day is the unit a dayDuration adds to Go's.
const day = 24 * time.Hour

// dayDuration is a duration flag that also takes whole days ("90d"), besides what
// time.ParseDuration takes ("36h", "90m"); it prints whole days as days.
type dayDuration time.Duration

func (d *dayDuration) String() string {
	if d == nil || *d == 0 {
		return "0"
	}
	if v := time.Duration(*d); v%day == 0 {
		return fmt.Sprintf("%dd", v/day)
	}
	return time.Duration(*d).String()
}

func (d *dayDuration) Set(s string) error {
	v, err := parseDayDuration(s)
	if err != nil {
		return err
	}
	*d = dayDuration(v)
	return nil
}

// parseDayDuration reads "90d" (whole days) or a Go duration ("36h").
func parseDayDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err == nil && (days > math.MaxInt64/int64(day) || days < math.MinInt64/int64(day)) {
			err = strconv.ErrRange
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days, such as 90d", s)
		}
		return time.Duration(days) * day, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: give days (90d), or hours and minutes (36h, 90m)", s)
	}
	return v, nil
}

// expireProjectsAfterUsage is the help of --expire-projects-after: one text, whichever command shows it.
const expireProjectsAfterUsage = "delete each project not used for this long, a `duration` such as 90d (days) or 36h: serve's " +
	"expiry controller queues its folder for the trash, hourly, never while a server has it open; the projects service " +
	"tells users when. 0: never. The same in serve and projects-service"

// addExpireAfterFlag binds --expire-projects-after onto fs: the one declaration of the setting that
// serve (which expires projects) and projects-service (which tells users when) share, and must be
// given equal. A negative value is validateExpireAfter's to report.
func addExpireAfterFlag(fs *flag.FlagSet, d *time.Duration) {
	fs.Var((*dayDuration)(d), "expire-projects-after", expireProjectsAfterUsage)
}

// validateExpireAfter reports a negative --expire-projects-after.
func validateExpireAfter(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("--expire-projects-after=%s must be 0 (never) or more", (*dayDuration)(&d))
	}
	return nil
}
