package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// ReasonProjectExpired (on the claim): a project not used for --expire-projects-after was deleted (its
// folder queued for the trash); the note names it and its last use.
const ReasonProjectExpired = "ProjectExpired"

// DefaultExpiryInterval is how often the expiry controller goes over the claims.
const DefaultExpiryInterval = time.Hour

// podsByClaim indexes the cached singleuser pods by the claim their project is on
// (contract.AnnotationClaim), so that the expiry controller reads only the pods of the claim it
// changes.
const podsByClaim = "binder-projects.io/claim"

// podClaim is the podsByClaim index function.
func podClaim(obj client.Object) []string {
	if claim := obj.GetAnnotations()[contract.AnnotationClaim]; claim != "" {
		return []string{claim}
	}
	return nil
}

// ExpiryController deletes the projects nobody used for After (serve's --expire-projects-after): at
// its start and then every Interval it goes over the claims of the hub's namespace, and takes each
// project whose last use (Project.LastUsed) is After or more ago off the registry and queues its
// folder (Registry.Delete, through projects.ChangeRegistry), never one that a server which has not
// ended has open. Each is an Event on the claim (ProjectExpired) and counts in
// binder_projects_projects_expired_total. An expired project leaves the registry's projects, so it is
// never expired twice; launching it again makes it a new project.
type ExpiryController struct {
	// After is how long a project may go unused; 0 turns expiry off (Start returns at once).
	After time.Duration
	// Interval is how often the claims are gone over (DefaultExpiryInterval when 0).
	Interval time.Duration
	// Namespace is the hub's namespace.
	Namespace string
	// Pods reads the singleuser pods: the manager's cache, which holds them without their spec, so
	// only their metadata and status are read. It must have the podsByClaim index (SetupWithManager
	// adds it).
	Pods client.Reader
	// APIReader reads claims from the API server, as metadata (see Sweep), and Client writes them.
	APIReader client.Reader
	Client    client.Writer
	// Recorder records Events; nil records none.
	Recorder events.EventRecorder
	// Clock is the controller's clock (the real one when nil).
	Clock clock.WithTicker
}

// SetupWithManager adds the controller to mgr, to run on the elected replica, when expiry is on; with
// After 0 it adds nothing (mgr is not used).
func (e *ExpiryController) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if e.After <= 0 {
		return nil
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, podsByClaim, podClaim); err != nil {
		return fmt.Errorf("indexing pods by claim: %w", err)
	}
	// A runnable that does not say otherwise runs on the elected replica only. The cache is asked for
	// the pod informer and waited for: the reads of a kind the cache does not watch yet fail
	// (ReaderFailOnMissingInformer), and a pod not in the cache yet would not protect its project.
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{}); err != nil {
			return fmt.Errorf("watching singleuser pods: %w", err)
		}
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the pod cache did not sync")
		}
		return e.Start(ctx)
	}))
}

// Start sweeps at once, then every Interval, until ctx ends. A sweep that fails is logged and the
// next one tries again.
func (e *ExpiryController) Start(ctx context.Context) error {
	if e.After <= 0 {
		return nil
	}
	interval := e.Interval
	if interval <= 0 {
		interval = DefaultExpiryInterval
	}
	log := ctrl.LoggerFrom(ctx).WithName("expiry")
	log.Info("expiring the projects not used for a while", "after", e.After.String(), "every", interval.String())
	ticker := e.clock().NewTicker(interval)
	defer ticker.Stop()
	for {
		if n, err := e.Sweep(ctx); err != nil {
			log.Error(err, "expiring projects", "expired", n)
		} else if n > 0 {
			log.Info("expired projects", "expired", n, "after", e.After.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

func (e *ExpiryController) clock() clock.WithTicker {
	if e.Clock == nil {
		return clock.RealClock{}
	}
	return e.Clock
}

// Sweep goes once over the claims of the namespace and expires the projects not used for After. It
// returns how many it expired; an error on one claim does not stop the others.
//
// The claims are listed from the API server (APIReader), as metadata, a page at a time, not from the
// manager's cache: the cache holds them as webhook.TransformClaim keeps them, with only the folder
// and the commit of each project, so the last use is not there. First every page is read, keeping
// the names of the claims with a project that has expired, so that the listing is over before its
// continue token can expire; then each of those claims is changed, read anew (ChangeRegistry), and
// decided again on what it holds then.
func (e *ExpiryController) Sweep(ctx context.Context) (int, error) {
	if e.After <= 0 {
		return 0, nil
	}
	now := e.clock().Now()
	var due []string
	err := projects.ListClaims(ctx, e.APIReader, e.Namespace, func(page []metav1.PartialObjectMetadata) error {
		for i := range page {
			// A corrupt part reads as empty: nothing expires on its account.
			r, _ := projects.FromClaim(&page[i])
			for _, p := range r.Projects {
				if p.Expired(e.After, now) {
					due = append(due, page[i].Name)
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	expired := 0
	var errs []error
	for _, name := range due {
		n, err := e.expire(ctx, name, now)
		expired += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return expired, errors.Join(errs...)
}

// expire deletes the expired projects of one claim that no server has open.
//
// The pods are read just before the claim is changed. A server admitted in between was not handed the
// deletion (its admission saw the project recorded), so when its launch succeeds the registry
// controller cancels the deletion (Registry.Launched) and the folder stays as it is, as with any
// deletion that raced with a launch.
func (e *ExpiryController) expire(ctx context.Context, claim string, now time.Time) (int, error) {
	open, err := e.openDirs(ctx, claim)
	if err != nil {
		return 0, err
	}
	var gone []projects.Project
	done, err := projects.ChangeRegistry(ctx, e.APIReader, e.Client, client.ObjectKey{Namespace: e.Namespace, Name: claim},
		func(_ metav1.Object, r *projects.Registry) error {
			// A retry decides again, on the claim as read anew; Delete takes from r.Projects.
			gone = nil
			for _, p := range slices.Clone(r.Projects) {
				if !p.Expired(e.After, now) || open[p.Dir] {
					continue
				}
				if _, was, err := r.Delete(p.Dir, now); err == nil {
					gone = append(gone, was)
				}
			}
			return nil
		})
	if err != nil {
		return 0, fmt.Errorf("expiring projects on claim %s: %w", claim, err)
	}
	if done.Claim == nil {
		return 0, nil
	}
	log := ctrl.LoggerFrom(ctx).WithName("expiry")
	if done.Corrupt != nil {
		// As every writer of the registry does, the write set the bad value aside (its -corrupt twin).
		log.Info("a corrupt part of the registry was set aside", "claim", claim, "error", done.Corrupt.Error())
	}
	for _, p := range gone {
		projectsExpired.Inc()
		log.Info("project expired", "claim", claim, "projectDir", p.Dir, "lastUsed", p.LastUsed)
		if e.Recorder != nil {
			e.Recorder.Eventf(done.Claim, nil, corev1.EventTypeNormal, ReasonProjectExpired, "Expire", "%s", expiredNote(p, e.After))
		}
	}
	return len(gone), nil
}

// openDirs are the folders on claim that a singleuser server which has not ended has open: a pod
// whose annotations name the claim (contract.AnnotationClaim) and the folder
// (contract.AnnotationProjectDir), pending, running or stopping (Succeeded and Failed pods have ended).
func (e *ExpiryController) openDirs(ctx context.Context, claim string) (map[contract.ProjectDir]bool, error) {
	var pods corev1.PodList
	if err := e.Pods.List(ctx, &pods, client.InNamespace(e.Namespace), client.MatchingFields{podsByClaim: claim}); err != nil {
		return nil, fmt.Errorf("reading the servers on claim %s: %w", claim, err)
	}
	open := map[contract.ProjectDir]bool{}
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.Annotations[contract.AnnotationClaim] != claim {
			continue
		}
		if dir, err := contract.LaunchedDir(pod.Annotations); err == nil {
			open[dir] = true
		}
	}
	return open, nil
}

// expiredNote is the ProjectExpired Event's note.
func expiredNote(p projects.Project, after time.Duration) string {
	return fmt.Sprintf("binder-projects: project %s was last used at %s and has not been used for %s, so it expired: "+
		"it was taken off the projects and its folder was queued for the trash (the next server start moves it there)",
		p.Dir, p.LastUsed.UTC().Format(time.RFC3339), projects.ExpireAfterWords(after))
}
