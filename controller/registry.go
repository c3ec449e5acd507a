package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// Launch is what a mutated pod's init container did, read from the pod.
type Launch struct {
	// Project is the project the pod launched, as the registry records it.
	Project projects.Project
	// Claim is the user's claim the project is on (contract.AnnotationClaim), and User the raw name of
	// the user who launched it: the launch is recorded only on a claim of that user.
	Claim, User string
	// Handed are the registry's queue entries the webhook handed to the init container.
	Handed []projects.Queued
	// Gone are the folders the init container reported deleted (or already absent).
	Gone []contract.ProjectDir
	// UpdateHanded is the update request the webhook handed to the init container, nil for none.
	UpdateHanded *contract.QueueEntry
	// UpdateRan says the init container reported the result of the update it was asked for (so
	// UpdateHanded leaves the queue, whatever the result).
	UpdateRan bool
	// UpdateDeferred says an update was asked for but deferred, the project being open in another
	// server of the user (contract.AnnotationUpdateDeferred): the launch records the project without its
	// commit, so that --update-on-launch asks again at the next launch.
	UpdateDeferred bool
	// Restores and Purges are the restore and purge queue entries the webhook handed to the init
	// container, in their order in EnvRestore and EnvPurge (the report names them by position); none
	// without a report.
	Restores, Purges []projects.Queued
	// Report is the init container's report (its termination message).
	Report contract.Report
}

// LaunchOf returns what pod's init container did, read from the pod's annotations (what the webhook
// recorded: the claim, the project, the queue entries it handed over) and its status, never from its
// spec; or false while the init container has not succeeded (still running, failed, or not ours): a
// failed init container changes nothing, so the queue keeps every folder. A folder counts as deleted
// only if the init container's report says so; a pod without a report (or with handed entries that
// cannot be read) clears nothing from the queue.
func LaunchOf(pod *corev1.Pod, initContainer string) (Launch, bool) {
	status := initStatus(pod, initContainer)
	ann := pod.Annotations
	if ann[contract.AnnotationStatus] != contract.StatusInjected ||
		status == nil || status.State.Terminated == nil || status.State.Terminated.ExitCode != 0 {
		return Launch{}, false
	}
	dir, err := contract.LaunchedDir(ann)
	if err != nil || ann[contract.AnnotationClaim] == "" {
		return Launch{}, false
	}
	l := Launch{
		Claim: ann[contract.AnnotationClaim],
		User:  ann[contract.AnnotationHubUsername],
		Project: projects.Project{
			Dir:      dir,
			RepoURL:  contract.RedactRepoURL(ann[contract.AnnotationRepoURL]),
			Image:    ann[contract.AnnotationImage],
			Commit:   ann[contract.AnnotationCommit],
			LastUsed: status.State.Terminated.FinishedAt.UTC(),
		},
	}
	if d, err := contract.DeferredUpdate(ann); err == nil && d != nil {
		l.UpdateDeferred = true
	}
	if report, err := contract.DecodeReport(status.State.Terminated.Message); err == nil && report.Present {
		l.Report = report
		if report.Update != nil {
			l.UpdateRan = true
			l.Project.LastUpdate = projects.UpdateOf(report.Update, l.Project.LastUsed)
			if handed, err := contract.HandedUpdate(ann); err == nil {
				l.UpdateHanded = handed
			}
		}
		if handed, err := contract.HandedRestores(ann); err == nil {
			l.Restores = handed
		}
		if handed, err := contract.HandedPurges(ann); err == nil {
			l.Purges = handed
		}
		requested, _ := contract.RequestedDeletions(ann)
		if handed, err := contract.HandedDeletions(ann); err == nil {
			l.Handed = handed
			deletions := contract.InitDeletions(requested, handed)
			for _, i := range report.Deleted {
				if i >= 1 && i <= len(deletions) {
					l.Gone = append(l.Gone, deletions[i-1])
				}
			}
		}
	}
	return l, true
}

// initStatus is the status of pod's init container of ours, or nil.
func initStatus(pod *corev1.Pod, initContainer string) *corev1.ContainerStatus {
	for i := range pod.Status.InitContainerStatuses {
		if pod.Status.InitContainerStatuses[i].Name == initContainer {
			return &pod.Status.InitContainerStatuses[i]
		}
	}
	return nil
}

// Event reasons on pods and claims, for `kubectl get events` and the hub's spawn progress (BinderHub's
// launch log shows a pod's events).
const (
	// ReasonProjectReady: the init container succeeded; the note says whether it copied the project.
	ReasonProjectReady = "ProjectReady"
	// ReasonProjectWarning: the init container succeeded with a warning (a deletion that could not be
	// done, an image without a home folder).
	ReasonProjectWarning = "ProjectWarning"
	// ReasonProjectFailed: the init container failed; the note says why and what to do.
	ReasonProjectFailed = "ProjectFailed"
	// ReasonProjectUpdated: the init container updated the project to the launched commit; the note
	// gives the counts (the files kept beside the user's are listed in its log).
	ReasonProjectUpdated = "ProjectUpdated"
	// ReasonUpdateDeferred: an update asked for was not done at this launch, because the project is
	// open in another server of the user (contract.AnnotationUpdateDeferred); the note names that server,
	// says whether the request stays queued, and what to do. A Warning, as DeletionCancelled: what the
	// user asked for was not done, and only the user can make it happen.
	ReasonUpdateDeferred = "UpdateDeferred"
	// ReasonDeletionCancelled: a project launched while its deletion was queued keeps its folder.
	ReasonDeletionCancelled = "DeletionCancelled"
	// ReasonRegistryCorrupt: a registry annotation on the claim did not parse; it was set aside.
	ReasonRegistryCorrupt = "RegistryCorrupt"
	// ReasonProjectRestored: the init container put a deleted project back from the trash; the note
	// says where it is now (its own name, or a new one beside the project that took it).
	ReasonProjectRestored = "ProjectRestored"
	// ReasonRestoreQueued (on the claim): a start already under way when the user took a project's
	// queued deletion back (restored it) moved its folder into the trash all the same; its restore is
	// queued, so the next start puts it back (projects.Registry.Observed). The note names the project.
	ReasonRestoreQueued = "RestoreQueued"
	// ReasonVolumeNearlyFull: the init container measured the user's volume at least nearlyFull used;
	// the note says how full, and which projects and deleted ones take the most.
	ReasonVolumeNearlyFull = "VolumeNearlyFull"
)

// nearlyFull is the share of the volume used (size - free over size) from which VolumeNearlyFull is
// told.
const nearlyFull = 0.9

// largestTold is how many of the largest folders VolumeNearlyFull names.
const largestTold = 3

// errOtherUsersClaim: the claim a pod names belongs to another user (its hub.jupyter.org/username
// annotation names someone else); nothing is recorded on it.
var errOtherUsersClaim = errors.New("the claim belongs to another user")

// maxEventNote is the longest note an events.k8s.io/v1 Event may carry.
const maxEventNote = 1024

// RegistryReconciler keeps the projects registry on each user's claim from what it observes: once a
// mutated pod's init container has succeeded, the launched project is recorded (or its last use
// updated), exactly the queue entries that init container was handed and reported done leave the
// queues, and what it reported of the trash and the volume is recorded (projects.Registry.Observed:
// the projects restored, the trash, the usage, against the claim's capacity on a shared filesystem).
// Updates are optimistic: a conflicting write reads the claim again and retries, so concurrent updates
// all land. What the init container reported (a failure, a warning, the project ready, a project
// restored, a volume nearly full) becomes an Event on the pod, where the hub's spawn progress shows it.
type RegistryReconciler struct {
	Client client.Client
	// APIReader reads claims from the API server, not the cache, so a retry sees the newest version.
	APIReader client.Reader
	// InitContainer is the name of the init container binder-projects adds (the webhook's
	// --init-container-name), whose status says what happened.
	InitContainer string
	// Recorder records Events; nil records none.
	Recorder events.EventRecorder

	// told remembers the init container runs already turned into Events, so that a pod's many
	// status updates do not repeat them.
	told     *cache.LRUExpireCache
	tellOnce sync.Once
}

// Reconcile records the named pod's launch on its claim, and reports what its init container did.
func (r *RegistryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.reportFailure(&pod)
	r.reportDeferral(&pod)
	l, ok := LaunchOf(&pod, r.InitContainer)
	if !ok {
		return ctrl.Result{}, nil
	}
	key := client.ObjectKey{Namespace: pod.Namespace, Name: l.Claim}
	var capacity int64
	if l.Report.Usage != nil {
		var err error
		if capacity, err = r.claimCapacity(ctx, key); err != nil {
			return ctrl.Result{}, fmt.Errorf("reading the capacity of claim %s for pod %s: %w", l.Claim, pod.Name, err)
		}
	}
	var cancelled []projects.Queued
	var seen observed
	done, err := projects.ChangeRegistry(ctx, r.APIReader, r.Client, key,
		func(claim metav1.Object, reg *projects.Registry) error {
			if owner := projects.Owner(claim); owner != "" && owner != l.User {
				// Another user's claim (slugs that collide): admission refuses such a pod, and the
				// registry is never written for a user the claim does not belong to.
				return errOtherUsersClaim
			}
			p := l.Project
			if i := reg.Find(p.Dir); l.UpdateDeferred && i >= 0 {
				// The files are still at the recorded commit: keep it, so that the next launch at the
				// launched commit still counts as one at another commit (--update-on-launch).
				p.Commit = reg.Projects[i].Commit
			}
			reg.Record(p)
			reg.Deleted(l.Handed, l.Gone)
			if l.UpdateRan && l.UpdateHanded != nil {
				reg.UpdateRan(*l.UpdateHanded)
			}
			cancelled = reg.Launched(l.Project.Dir, l.Handed)
			restored, carriedOut := reg.Observed(projects.Observation{Report: l.Report, Restores: l.Restores, Purges: l.Purges,
				Capacity: capacity, At: l.Project.LastUsed})
			seen = observed{restored: restored, carriedOut: carriedOut}
			if l.Report.Usage != nil && reg.Usage != nil {
				usage := *reg.Usage
				seen.usage, seen.largest = &usage, reg.Largest(largestTold)
			}
			return nil
		})
	if errors.Is(err, errOtherUsersClaim) {
		ctrl.LoggerFrom(ctx).Info("not recording a launch on a claim of another user", "claim", l.Claim, "projectDir", l.Project.Dir)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("recording project %s of pod %s on claim %s: %w", l.Project.Dir, pod.Name, l.Claim, err)
	}
	log := ctrl.LoggerFrom(ctx)
	if done.Claim != nil {
		log.Info("registry updated", "claim", l.Claim, "projectDir", l.Project.Dir, "deleted", len(l.Gone), "cancelled", len(cancelled),
			"restored", len(seen.restored), "purged", len(l.Report.Purged))
	}
	if done.Claim != nil && done.Corrupt != nil {
		log.Info("a corrupt registry was set aside and written anew", "claim", l.Claim, "error", done.Corrupt.Error())
		registryRepairs.Inc()
		r.event(done.Claim, corev1.EventTypeWarning, ReasonRegistryCorrupt,
			fmt.Sprintf("%v. The bad value is kept in the annotation's -corrupt twin; launches go on, and the registry was written anew from the launch of %s by pod %s.", done.Corrupt, l.Project.Dir, pod.Name))
	}
	if done.Claim != nil {
		// On the claim: the project is not this launch's, and the claim is where it lives. Written
		// once: the folder's trash record, made with this write, keeps it from being queued again.
		for _, q := range seen.carriedOut {
			r.event(done.Claim, corev1.EventTypeNormal, ReasonRestoreQueued, restoreQueuedNote(q, pod.Name))
		}
	}
	r.reportSuccess(&pod, l, cancelled, seen)
	return ctrl.Result{}, nil
}

// restoreQueuedNote is the RestoreQueued Event's note: whose folder went to the trash, by which
// start, and that the next start puts it back.
func restoreQueuedNote(q projects.Queued, pod string) string {
	return fmt.Sprintf("binder-projects: project %s was deleted on %s and restored before its folder went to the trash, but the start of pod %s, "+
		"already under way, moved it there all the same; the next server start puts it back, under its own name, or as %s if that name is taken by then",
		q.Dir, q.QueuedAt.UTC().Format("2006-01-02 15:04 UTC"), pod, contract.RestoredName(q.Dir, contract.TrashID(q)))
}

// observed is what the registry made of a report's restores, trash and usage, for the Events.
type observed struct {
	restored []projects.Restore
	// carriedOut are the deletions taken back that the report showed done all the same, whose
	// folders are now queued to come back.
	carriedOut []projects.Queued
	// usage is the volume's usage as recorded from this report (nil: it measured none), and largest
	// the folders the registry knows to take the most.
	usage   *projects.Usage
	largest []projects.Folder
}

// claimCapacity is the claim's capacity in bytes: its status's (what was provisioned, which may be
// more than asked for), else its request; 0 when it says neither, or is gone. It reads the claim from
// the API server (the cache holds claims as metadata only).
func (r *RegistryReconciler) claimCapacity(ctx context.Context, key client.ObjectKey) (int64, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := r.APIReader.Get(ctx, key, &pvc); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	q, ok := pvc.Status.Capacity[corev1.ResourceStorage]
	if !ok {
		q, ok = pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	}
	if !ok {
		return 0, nil
	}
	return q.Value(), nil
}

// reportSuccess turns a successful init container's report into Events on the pod, once per run.
func (r *RegistryReconciler) reportSuccess(pod *corev1.Pod, l Launch, cancelled []projects.Queued, seen observed) {
	status := initStatus(pod, r.InitContainer)
	if !r.firstTime(pod, status) {
		return
	}
	switch l.Report.Project {
	case contract.ProjectSeeded:
		r.event(pod, corev1.EventTypeNormal, ReasonProjectReady, fmt.Sprintf("binder-projects: new project %s copied from the image's home folder", l.Project.Dir))
	case contract.ProjectExisted:
		r.event(pod, corev1.EventTypeNormal, ReasonProjectReady, fmt.Sprintf("binder-projects: project %s found with your files", l.Project.Dir))
	}
	if u := l.Project.LastUpdate; u != nil {
		r.event(pod, corev1.EventTypeNormal, ReasonProjectUpdated, updateNote(l.Project.Dir, u, l.Report.Update.Counted, pod.Name, r.InitContainer))
	}
	for _, w := range l.Report.Warnings {
		r.event(pod, corev1.EventTypeWarning, ReasonProjectWarning, "binder-projects: "+w)
	}
	for _, q := range cancelled {
		r.event(pod, corev1.EventTypeWarning, ReasonDeletionCancelled, fmt.Sprintf(
			"binder-projects: project %s was launched while its deletion (asked for at %s) was waiting, so it was not deleted and keeps your files; to delete it, stop the server first, then delete it on the projects page",
			q.Dir, q.QueuedAt.Format(time.RFC3339)))
	}
	for _, rs := range seen.restored {
		r.event(pod, corev1.EventTypeNormal, ReasonProjectRestored, restoredNote(rs))
	}
	if seen.usage != nil {
		if note, full := nearlyFullNote(*seen.usage, seen.largest); full {
			r.event(pod, corev1.EventTypeWarning, ReasonVolumeNearlyFull, note)
		}
	}
}

// restoredNote is the ProjectRestored Event's note: where the project is now.
func restoredNote(rs projects.Restore) string {
	deleted := rs.Entry.QueuedAt.UTC().Format("2006-01-02 15:04 UTC")
	if rs.As == rs.Entry.Dir {
		return fmt.Sprintf("binder-projects: project %s, deleted on %s, is back under its own name, %s", rs.Entry.Dir, deleted, rs.As)
	}
	return fmt.Sprintf("binder-projects: project %s, deleted on %s, is back as %s, beside %s: that name was taken by a project launched since, which keeps it",
		rs.Entry.Dir, deleted, rs.As, rs.Entry.Dir)
}

// nearlyFullNote is the VolumeNearlyFull Event's note, and whether u is at least nearlyFull used:
// how full (in percent and GiB, against the filesystem or, on a shared one, the claim) and which
// folders take the most.
func nearlyFullNote(u projects.Usage, largest []projects.Folder) (string, bool) {
	if u.Size <= 0 {
		return "", false
	}
	used := float64(u.Size-u.Free) / float64(u.Size)
	if used < nearlyFull {
		return "", false
	}
	gib := func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<30)) }
	var note string
	if u.Basis == projects.UsageClaim {
		note = fmt.Sprintf("binder-projects: your projects and recently deleted ones take %d%% of your volume: %s of its %s GiB (it is on a shared filesystem, so this counts what was measured of your folders)",
			int(math.Floor(used*100)), gib(u.Size-u.Free), gib(u.Size))
	} else {
		note = fmt.Sprintf("binder-projects: your volume is %d%% full: %s of %s GiB used, %s GiB free",
			int(math.Floor(used*100)), gib(u.Size-u.Free), gib(u.Size), gib(u.Free))
	}
	note += ". To make room, delete projects you no longer need on the projects page, and delete for good those under recently deleted"
	if len(largest) == 0 {
		return note + ".", true
	}
	names := make([]string, len(largest))
	for i, f := range largest {
		if f.Trashed != nil {
			names[i] = fmt.Sprintf("%s, recently deleted (%s GiB)", f.Dir, gib(f.Bytes))
		} else {
			names[i] = fmt.Sprintf("%s (%s GiB)", f.Dir, gib(f.Bytes))
		}
	}
	return note + ". The largest: " + strings.Join(names, "; ") + ".", true
}

// updateNote is the ProjectUpdated Event's note.
func updateNote(dir contract.ProjectDir, u *projects.Update, counted bool, pod, container string) string {
	from := "commit " + u.From
	if u.From == "" {
		from = "its seed (no record of it: every file counted as yours)"
	}
	note := fmt.Sprintf("binder-projects: project %s updated from %s to commit %s", dir, from, u.Commit)
	if !counted {
		return note
	}
	note += fmt.Sprintf(": %d files replaced, %d added, %d removed, %d of yours kept, %d left deleted, %d modes changed",
		u.Replaced, u.Added, u.Removed, u.Kept, u.StayedDeleted, u.Modes)
	if u.Beside > 0 {
		note += fmt.Sprintf("; %d files you changed have the commit's version beside them, named NAME.%.7s.EXT (kubectl logs %s -c %s lists them)",
			u.Beside, u.Commit, pod, container)
	}
	return note
}

// reportDeferral tells the user, once per pod and as soon as the pod is seen (BinderHub's launch log
// shows the Events of a starting pod), that the update asked for was deferred: which of their servers
// has the project open, and what to do.
func (r *RegistryReconciler) reportDeferral(pod *corev1.Pod) {
	if pod.Annotations[contract.AnnotationStatus] != contract.StatusInjected || r.Recorder == nil {
		return
	}
	d, err := contract.DeferredUpdate(pod.Annotations)
	if err != nil || d == nil || len(d.Open) == 0 {
		return
	}
	if !r.firstTimeKey(string(pod.UID) + "/" + ReasonUpdateDeferred) {
		return
	}
	r.event(pod, corev1.EventTypeWarning, ReasonUpdateDeferred, deferralNote(pod.Annotations[contract.AnnotationProjectDir], pod.Annotations[contract.AnnotationCommit], *d))
}

// deferralNote is the UpdateDeferred Event's note, for the user in BinderHub's launch log.
func deferralNote(dir, commit string, d contract.UpdateDeferral) string {
	to := "the launched commit"
	if commit != "" {
		to = "commit " + commit
	}
	names := make([]string, 0, len(d.Open))
	for _, o := range d.Open {
		pod := "pod " + o.Pod
		if o.Stopping {
			pod += ", still stopping"
		}
		if o.Server == "" {
			names = append(names, fmt.Sprintf("your default server (%s)", pod))
		} else {
			names = append(names, fmt.Sprintf("your server %q (%s)", o.Server, pod))
		}
	}
	// This server has the project open too, from now on: it must stop as well before a launch can
	// update the project.
	that := "that server and this one"
	if len(d.Open) > 1 {
		that = "those servers and this one"
	}
	note := fmt.Sprintf("binder-projects: project %s was not updated to %s because it is open in %s, and an update would change its files under the notebooks running there. "+
		"This server starts on the project as it is. ", dir, to, strings.Join(names, " and "))
	switch d.Asked {
	case contract.UpdateAskedQueue:
		note += fmt.Sprintf("The update you asked for stays queued: stop %s on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again.", that)
	case contract.UpdateAskedAnnotation:
		note += fmt.Sprintf("To update it, stop %s on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again with the update asked for.", that)
	default:
		note += fmt.Sprintf("To update it, stop %s on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again: that launch updates it.", that)
	}
	return note
}

// reportFailure turns a failed init container run into a Warning Event on the pod, once per run: the
// reason the script reported, else the end of its log (the termination message falls back to it).
func (r *RegistryReconciler) reportFailure(pod *corev1.Pod) {
	status := initStatus(pod, r.InitContainer)
	if pod.Annotations[contract.AnnotationStatus] != contract.StatusInjected || status == nil {
		return
	}
	term := status.State.Terminated
	if term == nil {
		term = status.LastTerminationState.Terminated
	}
	if term == nil || term.ExitCode == 0 {
		return
	}
	if !r.firstTimeRun(pod, term) {
		return
	}
	why := ""
	if report, err := contract.DecodeReport(term.Message); err == nil && report.Error != "" {
		why = report.Error
	} else if msg := strings.TrimSpace(term.Message); msg != "" {
		lines := strings.Split(msg, "\n")
		why = strings.TrimSpace(lines[len(lines)-1])
	} else {
		why = fmt.Sprintf("exit code %d (%s)", term.ExitCode, term.Reason)
	}
	r.event(pod, corev1.EventTypeWarning, ReasonProjectFailed, fmt.Sprintf(
		"binder-projects could not prepare project %s: %s (kubectl logs %s -c %s)",
		pod.Annotations[contract.AnnotationProjectDir], why, pod.Name, r.InitContainer))
}

// firstTime reports whether the terminated run in status is seen for the first time.
func (r *RegistryReconciler) firstTime(pod *corev1.Pod, status *corev1.ContainerStatus) bool {
	if status == nil || status.State.Terminated == nil {
		return false
	}
	return r.firstTimeRun(pod, status.State.Terminated)
}

func (r *RegistryReconciler) firstTimeRun(pod *corev1.Pod, term *corev1.ContainerStateTerminated) bool {
	return r.firstTimeKey(string(pod.UID) + "/" + term.ContainerID + "/" + term.FinishedAt.String())
}

// firstTimeKey reports whether key is seen for the first time (within the hour).
func (r *RegistryReconciler) firstTimeKey(key string) bool {
	if r.Recorder == nil {
		return false
	}
	r.tellOnce.Do(func() { r.told = cache.NewLRUExpireCache(4096) })
	if _, seen := r.told.Get(key); seen {
		return false
	}
	r.told.Add(key, true, time.Hour)
	return true
}

func (r *RegistryReconciler) event(obj client.Object, eventType, reason, note string) {
	if r.Recorder == nil {
		return
	}
	if len(note) > maxEventNote {
		note = note[:maxEventNote-3] + "..."
	}
	r.Recorder.Eventf(obj, nil, eventType, reason, "Launch", "%s", note)
}

// SetupWithManager watches mutated pods.
func (r *RegistryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return watchMutatedPods(mgr, "registry", r)
}
