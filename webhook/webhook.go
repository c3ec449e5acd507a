// Package webhook is the admission side of binder-projects, and the only package that knows
// admission types: a typed controller-runtime Defaulter for Pods around patch.Mutate, instrumented
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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// Path is where the pod mutator is served; the MutatingWebhookConfiguration points here.
const Path = "/mutate-v1-pod"

// PodMutator rewrites BinderHub singleuser pods with patch.Mutate.
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
}

// RegistryReader reads the projects registry on a claim; a claim that does not exist yet has an
// empty registry. The webhook reads it from the manager's cache, not with an API call per request.
// A registry with a corrupt part is returned with what parsed and an error wrapping
// projects.ErrCorruptRegistry.
type RegistryReader interface {
	Registry(ctx context.Context, namespace, claim string) (projects.Registry, error)
}

// ClaimRegistry is the RegistryReader on a controller-runtime client (the cached one in serve).
type ClaimRegistry struct{ Reader client.Reader }

// Registry implements RegistryReader.
func (r ClaimRegistry) Registry(ctx context.Context, namespace, claim string) (projects.Registry, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: claim}, &pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return projects.Registry{}, nil
		}
		return projects.Registry{}, err
	}
	return projects.FromClaim(&pvc)
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
	if l[patch.LabelComponent] != patch.ComponentSingleuser || l[patch.AnnotationHubUsername] == "" {
		return nil
	}
	return []string{l[patch.AnnotationHubUsername]}
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
// never modifies pod.
func (m *PodMutator) mutate(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	log := logr.FromContextOrDiscard(ctx)
	if ok, reason := patch.ShouldMutate(pod, m.Config); !ok {
		log.Info("pod left alone", "reason", reason)
		return nil, nil
	}
	// The registry on the user's claim: its deletion queue goes to the init container, and the
	// project limit is checked against the folder the mutation resolved.
	var reg projects.Registry
	claim := ""
	if m.Registry != nil || m.Servers != nil {
		claim = patch.UserClaim(pod, m.Config)
	}
	if m.Registry != nil {
		if claim != "" {
			var err error
			reg, err = m.Registry.Registry(ctx, pod.Namespace, claim)
			switch {
			case errors.Is(err, projects.ErrCorruptRegistry):
				// A corrupt registry never blocks a user: the launch goes on with what parsed (a
				// corrupt part reads as empty: no limit from it, nothing deleted on its account), and
				// the registry controller sets the bad value aside once this launch succeeds.
				log.Info("the projects registry is corrupt; launching with what parsed", "claim", claim, "error", err.Error())
				corruptRegistries.Inc()
			case err != nil:
				log.Error(err, "cannot read the projects registry", "claim", claim)
				return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("binder-projects cannot read the projects registry on claim %s; try again in a minute: %v", claim, err))
			}
		}
	}
	// The user's other servers on the claim, with the project each has open: an update of a project
	// open in one of them is deferred. Only the user's own pods are read (by their user label; the
	// claim and the raw user name are checked too), and nothing of them is logged but their names.
	var open []patch.OpenServer
	if user := pod.Labels[patch.AnnotationHubUsername]; m.Servers != nil && claim != "" && user != "" {
		pods, err := m.Servers.UserPods(ctx, pod.Namespace, user)
		if err != nil {
			log.Error(err, "cannot list the user's servers", "claim", claim)
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("binder-projects cannot see whether your other servers have this project open; try again in a minute: %v", err))
		}
		open = patch.OpenServers(pod, claim, m.Config, pods)
	}
	queued := reg.Deletions
	out, errs := patch.MutateWith(pod, m.Config, patch.Registered{Deletions: queued, Updates: reg.Updates, Commits: reg.Commits(), OpenElsewhere: open})
	if len(errs) > 0 {
		err := apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, podName(ctx, pod), errs)
		log.Info("pod refused", "reason", err.Error())
		return nil, err
	}
	dir := out.Annotations[patch.AnnotationProjectDir]
	if claim != "" {
		if err := reg.Admit(dir, m.MaxProjects); err != nil {
			log.Info("pod denied", "reason", "project limit", "projectDir", dir, "projects", len(reg.Projects))
			return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, podName(ctx, pod), err)
		}
	}
	if _, ok := out.Annotations[patch.AnnotationUpdateDeferred]; ok {
		log.Info("update deferred: the project is open in another server of the user", "projectDir", dir,
			patch.AnnotationUpdateDeferred, out.Annotations[patch.AnnotationUpdateDeferred])
	}
	log.Info("pod mutated", "projectDir", dir,
		"initContainer", m.Config.InitContainerName, "deletions", len(queued))
	return out, nil
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
