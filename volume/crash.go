package volume

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// TEST HOOKS. Nothing but the tests of this package and of cmd/binder-projects sets these variables;
// an operator never should. They let a test kill an update or a record at every point where a real
// kill (OOM, eviction, node loss) would leave something behind, and fail a step on purpose.
const (
	// TestCrashEnv (test hook): BINDER_PROJECTS_UPDATE_TEST_CRASH_AT=N makes the process send itself
	// SIGKILL at its crash point number N (counted from 0: the first is reached before anything is
	// changed; then after each staged entry, the journal, each applied or undone step, the manifest's
	// switch and the journal's removal). With N past the last point, the run ends normally.
	TestCrashEnv = "BINDER_PROJECTS_UPDATE_TEST_CRASH_AT"
	// TestFailStepEnv (test hook): BINDER_PROJECTS_UPDATE_TEST_FAIL_STEP=N makes applying step N (from
	// 0) of the journal fail, as a real error would, so that the update is rolled back.
	TestFailStepEnv = "BINDER_PROJECTS_UPDATE_TEST_FAIL_STEP"
	// TestNowEnv (test hook): BINDER_PROJECTS_INIT_TEST_NOW=<Unix ns> is the init command's clock (the
	// id of a deletion without one, the trash's expiry), so that a test can age the trash.
	TestNowEnv = "BINDER_PROJECTS_INIT_TEST_NOW"
)

// testNow is the clock TestNowEnv sets, if it does.
func testNow() (time.Time, bool) {
	n, err := strconv.ParseInt(os.Getenv(TestNowEnv), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

var testHooks struct {
	once     sync.Once
	crashAt  int // -1: off
	reached  int
	failStep int // -1: off
	// pause (test hook), set only by this package's tests, is called at named points of an update:
	// "planned" (the plan is made, nothing is changed yet), "prepared" (the journal is written, no step
	// applied), "step N" (before step N is applied), "looked P" (the user's entry at P was checked, not
	// moved yet) and "moved P" (it was moved aside, not checked there yet), so that a test can change
	// the project there as a user would (a save, a folder swapped for a link).
	pause func(point string)
}

func loadTestHooks() {
	testHooks.once.Do(func() {
		testHooks.crashAt, testHooks.failStep = -1, -1
		if n, err := strconv.Atoi(os.Getenv(TestCrashEnv)); err == nil && n >= 0 {
			testHooks.crashAt = n
		}
		if n, err := strconv.Atoi(os.Getenv(TestFailStepEnv)); err == nil && n >= 0 {
			testHooks.failStep = n
		}
	})
}

// crashPoint is where a test may kill the process (TestCrashEnv).
func crashPoint() {
	loadTestHooks()
	if testHooks.crashAt < 0 {
		return
	}
	if testHooks.reached == testHooks.crashAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	testHooks.reached++
}

// pausePoint is where a test may change the project while an update runs (testHooks.pause).
func pausePoint(point string) {
	if testHooks.pause != nil {
		testHooks.pause(point)
	}
}

// errTestFail is the failure TestFailStepEnv injects.
var errTestFail = errors.New("failed on purpose (test hook " + TestFailStepEnv + ")")

// failStep says whether a test asked step i to fail (TestFailStepEnv).
func failStep(i int) bool {
	loadTestHooks()
	return testHooks.failStep == i
}
