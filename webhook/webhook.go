// Package webhook is the admission side of binder-projects, and the only package that knows
// admission types: a typed controller-runtime Defaulter for Pods around the pod mutation (package patch), instrumented
// with metrics. controller-runtime decodes the request and answers; the answer's JSON patch is built
// from what Mutate changed (planpatch.go), proven equal in effect to controller-runtime's diff of the
// mutated pod against the raw request, which stays available (PatchDiff) and answers whatever the
// plan does not cover.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// Path is where the pod mutator is served; the MutatingWebhookConfiguration points here.
const Path = "/mutate-v1-pod"

// PodMutator rewrites BinderHub singleuser pods: patch.Resolve, the registry and the limit, patch.Apply.
type PodMutator struct {
	Config patch.Config
	// Registry reads the projects registry on the user's claim; nil means none (offline use): no
	// queued deletions, no limit.
	Registry RegistryReader
	// MaxProjects is the most projects a claim may hold (0: no limit); a launch of a new project
	// beyond it is denied.
	MaxProjects int
	// PatchMode says how the answer's JSON patch is built (PatchPlan unless set).
	PatchMode PatchMode
	// Servers lists the user's singleuser pods, to find the user's other servers that have the
	// launched project open (an update asked for is then deferred); nil means none are looked for.
	Servers UserPodLister

	// launches are the launches this replica admitted that its pod cache may not show yet.
	launches launches
}

// RegistryReader reads the projects registry on a claim; a claim that does not exist yet has an
// empty registry. The webhook reads it from the manager's cache, not with an API call per request.
// A registry with a corrupt part is returned with what parsed and an error wrapping
// projects.ErrCorruptRegistry.
type RegistryReader interface {
	// Registry returns the claim's registry and its owner (projects.Owner: "" when the claim does not
	// name one, or does not exist).
	Registry(ctx context.Context, namespace, claim string) (reg projects.Registry, owner string, err error)
}

// ClaimRegistry is the RegistryReader on a controller-runtime client (the cached one in serve, which
// holds claims as metadata, transformed by TransformClaim). It reads a claim's metadata only, and sees
// it through TransformClaim from any reader, as admission sees it in serve.
type ClaimRegistry struct{ Reader client.Reader }

// Registry implements RegistryReader.
func (r ClaimRegistry) Registry(ctx context.Context, namespace, claim string) (projects.Registry, string, error) {
	pvc := projects.ClaimMetadata()
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: claim}, pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return projects.Registry{}, "", nil
		}
		return projects.Registry{}, "", err
	}
	seen, err := TransformClaim(pvc)
	if err != nil {
		return projects.Registry{}, "", err
	}
	reg, err := projects.FromClaim(seen.(*metav1.PartialObjectMetadata))
	return reg, projects.Owner(pvc), err
}

// UserPodLister lists the singleuser pods of one user in a namespace: those whose
// hub.jupyter.org/username label (KubeSpawner's safe form of the user name) is user. The webhook reads
// them from the manager's cache, never with an API call per request, and only the user's own.
type UserPodLister interface {
	UserPods(ctx context.Context, namespace, user string) ([]corev1.Pod, error)
}

// UserPodsIndex is the cache index that CachedUserPods finds a user's pods by: a singleuser pod's
// hub.jupyter.org/username label.
const UserPodsIndex = "binder-projects.user"

// UserPodsIndexKeys is UserPodsIndex's function: the user label of a singleuser pod, none for another
// pod or a pod without it.
func UserPodsIndexKeys(o client.Object) []string {
	l := o.GetLabels()
	if l[contract.LabelComponent] != contract.ComponentSingleuser || l[contract.AnnotationHubUsername] == "" {
		return nil
	}
	return []string{l[contract.AnnotationHubUsername]}
}

// IndexUserPods adds UserPodsIndex to a cache (the manager's field indexer, before it starts).
func IndexUserPods(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &corev1.Pod{}, UserPodsIndex, UserPodsIndexKeys)
}

// CachedUserPods is the UserPodLister on a controller-runtime client whose cache has UserPodsIndex
// (the cached one in serve): a user's pods are found by the index, without looking at anyone else's.
type CachedUserPods struct{ Reader client.Reader }

// UserPods implements UserPodLister.
func (c CachedUserPods) UserPods(ctx context.Context, namespace, user string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := c.Reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{UserPodsIndex: user}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Option configures NewWebhook and NewServer.
type Option func(*PodMutator)

// WithPatchMode chooses how the JSON patch is built: PatchPlan (the default) or PatchDiff.
func WithPatchMode(mode PatchMode) Option {
	return func(m *PodMutator) { m.PatchMode = mode }
}

// WithServers makes admission look for the user's other servers (pods listed by servers) that have
// the launched project open: an update asked for is then deferred, not handed to the launch.
func WithServers(servers UserPodLister) Option {
	return func(m *PodMutator) { m.Servers = servers }
}

// WithRegistry makes admission use the projects registry: queued deletions go to the init container,
// and a new project beyond maxProjects (0: no limit) is denied.
func WithRegistry(r RegistryReader, maxProjects int) Option {
	return func(m *PodMutator) {
		m.Registry = r
		m.MaxProjects = maxProjects
	}
}

var _ admission.Defaulter[*corev1.Pod] = (*PodMutator)(nil)

// Default mutates pod in place, or returns an Invalid error (422) naming every field that stops it.
// It logs what it decided, never the pod's env or the request.
func (m *PodMutator) Default(ctx context.Context, pod *corev1.Pod) error {
	out, err := m.mutate(ctx, pod)
	if out != nil {
		*pod = *out
	}
	return err
}

// mutate returns what pod becomes (nil: left alone), or the error the admission answers with. It
// never modifies pod. It goes once through each step: resolve the project and the claim from the pod;
// read the claim's registry and the user's other servers on it; check the claim's owner and the
// project limit; apply.
func (m *PodMutator) mutate(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	log := logr.FromContextOrDiscard(ctx)
	if ok, reason := patch.ShouldMutate(pod, m.Config); !ok {
		log.Info("pod left alone", "reason", reason)
		return nil, nil
	}

	// Resolve: the project and the claim, from the pod alone.
	l, errs := patch.Resolve(pod, m.Config)
	if len(errs) > 0 {
		return nil, m.refuse(ctx, pod, errs)
	}

	// Read: the registry on the claim (its queues go to the init container) and the user's other
	// servers on it. Admissions of one claim take turns from here to the end, so that the projects
	// they launch count against the limit of each other (launchesOf).
	done := m.launches.turn(pod.Namespace, l.Claim)
	defer done()
	reg, owner, err := m.readRegistry(ctx, pod.Namespace, l.Claim)
	if err != nil {
		return nil, err
	}
	open, cached, err := m.openServers(ctx, pod, l.Claim)
	if err != nil {
		return nil, err
	}

	// Check: the claim is the user's, and a new project fits the limit.
	if owner != "" && owner != l.User {
		return nil, m.refuse(ctx, pod, field.ErrorList{field.Invalid(l.ClaimField, l.Claim, fmt.Sprintf(
			"claim %s is not %q's: its %s annotation names another user (their user names give the same claim name); "+
				"an operator can rename one of the users, or give users unique names with --claim-name-template",
			l.Claim, l.User, contract.AnnotationHubUsername))})
	}
	launching := m.launches.launching(pod, l.Claim, open, cached)
	if err := reg.Admit(l.Dir, m.MaxProjects, launching); err != nil {
		log.Info("pod denied", "reason", "project limit", "projectDir", l.Dir, "projects", len(reg.Projects), "launching", len(launching))
		return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, podName(ctx, pod), err)
	}

	// Apply.
	out := patch.Apply(pod, m.Config, l, patch.Registered{Deletions: reg.Deletions, Updates: reg.Updates,
		Restores: reg.Restores, Purges: reg.Purges, Commits: reg.Commits(), OpenElsewhere: open})
	m.launches.handed(ctx, pod, l.Claim, l.Dir)
	if _, ok := out.Annotations[contract.AnnotationUpdateDeferred]; ok {
		log.Info("update deferred: the project is open in another server of the user", "projectDir", l.Dir,
			contract.AnnotationUpdateDeferred, out.Annotations[contract.AnnotationUpdateDeferred])
	}
	log.Info("pod mutated", "projectDir", l.Dir, "claim", l.Claim,
		"initContainer", m.Config.InitContainerName, "deletions", len(reg.Deletions), "restores", len(reg.Restores), "purges", len(reg.Purges))
	return out, nil
}

// refuse is the 422 for errs, logged.
func (m *PodMutator) refuse(ctx context.Context, pod *corev1.Pod, errs field.ErrorList) error {
	err := apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, podName(ctx, pod), errs)
	logr.FromContextOrDiscard(ctx).Info("pod refused", "reason", err.Error())
	return err
}

// readRegistry reads the registry on claim, empty without a Registry (offline use). A corrupt
// registry never blocks a user: the launch goes on with what parsed (a corrupt part reads as empty: no
// limit from it, nothing deleted on its account), and the registry controller sets the bad value
// aside once this launch succeeds.
func (m *PodMutator) readRegistry(ctx context.Context, namespace, claim string) (projects.Registry, string, error) {
	if m.Registry == nil {
		return projects.Registry{}, "", nil
	}
	log := logr.FromContextOrDiscard(ctx)
	reg, owner, err := m.Registry.Registry(ctx, namespace, claim)
	switch {
	case errors.Is(err, projects.ErrCorruptRegistry):
		log.Info("the projects registry is corrupt; launching with what parsed", "claim", claim, "error", err.Error())
		corruptRegistries.Inc()
	case err != nil:
		log.Error(err, "cannot read the projects registry", "claim", claim)
		return projects.Registry{}, "", apierrors.NewServiceUnavailable(fmt.Sprintf("binder-projects cannot read the projects registry on claim %s; try again in a minute: %v", claim, err))
	}
	return reg, owner, nil
}

// openServers are the user's other servers on claim, with the project each has open: an update of a
// project open in one of them is deferred, and a project one of them is launching counts against the
// limit. Only the user's own pods are read (by their user label; the claim and the raw user name are
// checked too), and nothing of them is logged but their names. cached names every pod of the user
// the cache shows.
func (m *PodMutator) openServers(ctx context.Context, pod *corev1.Pod, claim string) (open []contract.OpenServer, cached map[string]bool, err error) {
	user := pod.Labels[contract.AnnotationHubUsername]
	if m.Servers == nil || user == "" {
		return nil, nil, nil
	}
	pods, err := m.Servers.UserPods(ctx, pod.Namespace, user)
	if err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "cannot list the user's servers", "claim", claim)
		return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf("binder-projects cannot see whether your other servers have this project open; try again in a minute: %v", err))
	}
	cached = make(map[string]bool, len(pods))
	for i := range pods {
		cached[pods[i].Name] = true
	}
	return patch.OpenServers(pod, claim, pods), cached, nil
}

// podName is the pod's name for messages: KubeSpawner always sets one, other clients may use
// generateName.
func podName(ctx context.Context, pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Name != "" {
		return req.Name
	}
	return pod.GenerateName
}

// NewWebhook returns the admission webhook for pods: the typed defaulter, with panics recovered,
// each request logged with its ID and timed into the admission metrics. Its patch is built from the
// mutation's plan (planHandler) unless WithPatchMode(PatchDiff) asks for the library's diff.
func NewWebhook(cfg patch.Config, log logr.Logger, opts ...Option) *admission.Webhook {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	m := &PodMutator{Config: cfg}
	for _, o := range opts {
		o(m)
	}
	var inner admission.Handler = admission.WithDefaulter[*corev1.Pod](scheme, m).Handler
	if m.PatchMode != PatchDiff {
		inner = &planHandler{mutator: m, decoder: admission.NewDecoder(scheme), library: inner}
	}
	wh := &admission.Webhook{
		Handler: instrumented{inner: inner},
		LogConstructor: func(_ logr.Logger, req *admission.Request) logr.Logger {
			if req == nil {
				return log
			}
			// Identify the request; never its object, which carries the user's API token.
			return log.WithValues("requestID", req.UID, "namespace", req.Namespace, "name", req.Name,
				"operation", req.Operation, "dryRun", req.DryRun != nil && *req.DryRun)
		},
	}
	return wh
}

// instrumented counts and times every admission by its outcome.
type instrumented struct{ inner admission.Handler }

func (h instrumented) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp := h.inner.Handle(ctx, req)
	outcome := Outcome(resp)
	admissions.WithLabelValues(outcome).Inc()
	latency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if outcome == OutcomeMalformed || outcome == OutcomeError {
		msg := ""
		if resp.Result != nil {
			msg = resp.Result.Message
		}
		logr.FromContextOrDiscard(ctx).Info("admission failed", "outcome", outcome, "message", msg)
	}
	return resp
}

// Outcomes of an admission, the label of the admission metrics.
const (
	OutcomeMutated   = "mutated"   // the pod was rewritten
	OutcomeSkipped   = "skipped"   // allowed unchanged: not a pod of ours
	OutcomeInvalid   = "invalid"   // refused with 422: bad annotations, URLs or conflicting mounts
	OutcomeDenied    = "denied"    // refused by policy (403)
	OutcomeMalformed = "malformed" // the request itself could not be read (400)
	OutcomeError     = "error"     // our fault (500)
)

// Outcome classifies an admission response.
func Outcome(resp admission.Response) string {
	code := int32(http.StatusOK)
	if resp.Result != nil && resp.Result.Code != 0 {
		code = resp.Result.Code
	}
	switch {
	case resp.Allowed && (len(resp.Patches) > 0 || len(resp.Patch) > 0):
		return OutcomeMutated
	case resp.Allowed:
		return OutcomeSkipped
	case code == http.StatusUnprocessableEntity:
		return OutcomeInvalid
	case code == http.StatusBadRequest:
		return OutcomeMalformed
	case code >= http.StatusInternalServerError:
		return OutcomeError
	default:
		return OutcomeDenied
	}
}

// ServerOptions say where the webhook listens and where its TLS files are.
type ServerOptions struct {
	Host    string
	Port    int
	CertDir string
}

// NewServer returns controller-runtime's webhook server with the pod mutator at Path. It serves
// CertDir's tls.crt and tls.key and reloads them when they change (controller-runtime's certwatcher),
// so a certificate renewed by cert-manager is used without a restart.
func NewServer(opts ServerOptions, cfg patch.Config, log logr.Logger, wopts ...Option) crwebhook.Server {
	s := crwebhook.NewServer(crwebhook.Options{Host: opts.Host, Port: opts.Port, CertDir: opts.CertDir})
	s.Register(Path, NewWebhook(cfg, log, wopts...))
	return s
}

// PatchMode is how the webhook builds the JSON patch of its answer.
type PatchMode string

const (
	// PatchPlan builds the patch from what Mutate changed, area by area, against the request's raw
	// structure (planpatch.go): no diff of whole pods.
	PatchPlan PatchMode = "plan"
	// PatchDiff lets controller-runtime diff the mutated pod against the raw request
	// (gomodules.xyz/jsonpatch/v2): the library path, kept to compare the two.
	PatchDiff PatchMode = "diff"
)
