package webhook

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/contract"
)

// launchMemory is how long an admitted launch counts against its claim's project limit when no pod of
// its name shows up in the cache (a dry run is never counted; a pod that a later admission plugin
// refused, or one with only a generateName, is counted this long).
const launchMemory = 2 * time.Minute

// launches makes the project limit hold for launches at the same time. A project is recorded in the
// registry only once its init container succeeded, so the limit counts, besides the recorded
// projects, the projects the user's other pods on the claim are launching: those in the pod cache,
// and those this replica admitted that the cache does not show yet (the informer follows the API
// server by a moment). Admissions of one claim take turns (turn), so that each sees the launches
// admitted before it. With several replicas each knows only its own admissions: launches at the same
// moment through different replicas can pass the limit by one each.
type launches struct {
	mu     sync.Mutex
	claims map[string]*claimLaunches
	// now is the clock (time.Now when nil).
	now func() time.Time
}

// claimLaunches is one claim's turn and the launches admitted on it.
type claimLaunches struct {
	turn sync.Mutex
	// waiting counts the admissions that hold or wait for the turn; handed the launches admitted.
	// Both are guarded by launches.mu.
	waiting int
	handed  []handedLaunch
}

// handedLaunch is a launch admitted on a claim: its pod, the project it launches, and when.
type handedLaunch struct {
	pod string
	dir contract.ProjectDir
	at  time.Time
}

func (ls *launches) clock() time.Time {
	if ls.now != nil {
		return ls.now()
	}
	return time.Now()
}

// turn waits until no other admission of the claim is between its read of the registry and its
// answer, and returns the function that ends this admission's turn.
func (ls *launches) turn(namespace, claim string) (done func()) {
	key := namespace + "/" + claim
	ls.mu.Lock()
	if ls.claims == nil {
		ls.claims = map[string]*claimLaunches{}
	}
	c := ls.claims[key]
	if c == nil {
		c = &claimLaunches{}
		ls.claims[key] = c
	}
	c.waiting++
	ls.mu.Unlock()
	c.turn.Lock()
	return func() {
		c.turn.Unlock()
		ls.mu.Lock()
		defer ls.mu.Unlock()
		c.waiting--
		ls.forget(key, c)
	}
}

// forget drops what is no longer needed of the claim's record: launches older than launchMemory,
// and the record itself when nothing is in it. ls.mu is held.
func (ls *launches) forget(key string, c *claimLaunches) {
	now := ls.clock()
	kept := c.handed[:0]
	for _, h := range c.handed {
		if now.Sub(h.at) < launchMemory {
			kept = append(kept, h)
		}
	}
	c.handed = kept
	if c.waiting == 0 && len(c.handed) == 0 {
		delete(ls.claims, key)
	}
}

// launching is what the user's other pods on claim are launching, for the limit: the projects open
// in them (open, from the cache), and the launches this replica admitted whose pods the cache does
// not show yet (cached names the pods it shows). Call it during the claim's turn.
func (ls *launches) launching(pod *corev1.Pod, claim string, open []contract.OpenServer, cached map[string]bool) []contract.ProjectDir {
	var dirs []contract.ProjectDir
	for _, o := range open {
		dirs = append(dirs, o.Dir)
	}
	key := pod.Namespace + "/" + claim
	ls.mu.Lock()
	defer ls.mu.Unlock()
	c := ls.claims[key]
	if c == nil {
		return dirs
	}
	kept := c.handed[:0]
	for _, h := range c.handed {
		if h.pod != "" && cached[h.pod] {
			continue // the cache shows it now: it is in open while it runs
		}
		kept = append(kept, h)
	}
	c.handed = kept
	ls.forget(key, c)
	for _, h := range c.handed {
		if h.pod != pod.Name || h.pod == "" {
			dirs = append(dirs, h.dir)
		}
	}
	return dirs
}

// handed records a launch admitted on claim, during the claim's turn. A dry run launches nothing and
// is not recorded.
func (ls *launches) handed(ctx context.Context, pod *corev1.Pod, claim string, dir contract.ProjectDir) {
	if req, err := admission.RequestFromContext(ctx); err == nil && req.DryRun != nil && *req.DryRun {
		return
	}
	key := pod.Namespace + "/" + claim
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if c := ls.claims[key]; c != nil {
		c.handed = append(c.handed, handedLaunch{pod: pod.Name, dir: dir, at: ls.clock()})
	}
}
