package patch

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// QueuedDeletion is an entry of the registry's deletion queue: a project folder the user deleted, and
// when. The pair identifies the entry exactly: the webhook records on the pod which entries it handed
// to the init container (AnnotationDeletions), and the registry controller clears exactly those that
// the init container reported done, never a later entry for the same folder.
type QueuedDeletion struct {
	Dir      string    `json:"dir"`
	QueuedAt time.Time `json:"queuedAt"`
}

// Same reports whether q and o are the same queue entry.
func (q QueuedDeletion) Same(o QueuedDeletion) bool {
	return q.Dir == o.Dir && q.QueuedAt.Equal(o.QueuedAt)
}

// HandedDeletions reads AnnotationDeletions: the queue entries the webhook handed to pod's init
// container. A pod without it was handed none; a value that does not parse is an error.
func HandedDeletions(pod *corev1.Pod) ([]QueuedDeletion, error) {
	s, ok := pod.Annotations[AnnotationDeletions]
	if !ok || s == "" {
		return nil, nil
	}
	var qs []QueuedDeletion
	if err := json.Unmarshal([]byte(s), &qs); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationDeletions, err)
	}
	return qs, nil
}

// QueuedUpdate is an entry of the registry's update queue: a project whose next launch updates it to
// the launched commit (docs/updates.md), and when it was asked for. Like a QueuedDeletion, the pair
// identifies the entry exactly (AnnotationUpdateHanded).
type QueuedUpdate struct {
	Dir      string    `json:"dir"`
	QueuedAt time.Time `json:"queuedAt"`
}

// Same reports whether q and o are the same queue entry.
func (q QueuedUpdate) Same(o QueuedUpdate) bool {
	return q.Dir == o.Dir && q.QueuedAt.Equal(o.QueuedAt)
}

// HandedUpdate reads AnnotationUpdateHanded: the update queue entry the webhook handed to pod's init
// container, nil if none; a value that does not parse is an error.
func HandedUpdate(pod *corev1.Pod) (*QueuedUpdate, error) {
	s, ok := pod.Annotations[AnnotationUpdateHanded]
	if !ok || s == "" {
		return nil, nil
	}
	var q QueuedUpdate
	if err := json.Unmarshal([]byte(s), &q); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationUpdateHanded, err)
	}
	return &q, nil
}

// Registered is what the user's projects registry holds that a launch needs.
type Registered struct {
	// Deletions is the deletion queue: every entry goes to the init container.
	Deletions []QueuedDeletion
	// Updates is the update queue: only an entry for the launched project goes to its init container.
	Updates []QueuedUpdate
	// Commits maps a project folder to the commit the registry records for it (for
	// Config.UpdateOnLaunch); nil is none.
	Commits map[string]string
	// OpenElsewhere are the user's other servers on the same claim that have not ended, each with
	// the project it has open (OpenServers picks them from the webhook's cache). A launch of a project
	// open in one of them gets no update: it is deferred (AnnotationUpdateDeferred).
	OpenElsewhere []OpenServer
}

// Project is what a pod launches, resolved from its annotations or from BinderHub's env.
type Project struct {
	// Dir is the project's folder on the user's volume.
	Dir string
	// RepoURL is the repository the project comes from; empty when the project was named explicitly
	// and no URL is known.
	RepoURL string
	// Image is the image the init container seeds the project from.
	Image string
	// Commit is the ref BinderHub resolved for this launch (the last part of
	// BINDER_PERSISTENT_REQUEST), when known.
	Commit string
	// Deletions are project folders the init container deletes first.
	Deletions []string
	// Update says the launch asks for an update of the project (AnnotationUpdate is "true").
	Update bool
}

var (
	annotationsPath = field.NewPath("metadata", "annotations")
	containersPath  = field.NewPath("spec", "containers")
)

// ResolveProject reads the project a pod launches: the folder from AnnotationProject, else from the
// repository URL (AnnotationRepoURL, else the notebook container's BINDER_REPO_URL); the image from
// AnnotationImage, else the notebook container's image; the deletions from AnnotationDelete. Every
// bad value is reported, with its field path.
func ResolveProject(pod *corev1.Pod, cfg Config) (Project, field.ErrorList) {
	var p Project
	var errs field.ErrorList
	nb := findContainer(pod.Spec.Containers, cfg.NotebookContainer)

	// The URL loses its user info (a token, perhaps) here, where it enters: every message, log line,
	// annotation and registry entry after this sees only the redacted URL.
	repoPath := annotationsPath.Key(AnnotationRepoURL)
	p.RepoURL = RedactRepoURL(pod.Annotations[AnnotationRepoURL])
	if p.RepoURL == "" && nb >= 0 {
		if e := findEnv(pod.Spec.Containers[nb].Env, EnvRepoURL); e >= 0 {
			p.RepoURL = RedactRepoURL(pod.Spec.Containers[nb].Env[e].Value)
			repoPath = containersPath.Index(nb).Child("env").Index(e).Child("value")
		}
	}

	if nb >= 0 {
		if e := findEnv(pod.Spec.Containers[nb].Env, EnvPersistentRequest); e >= 0 {
			p.Commit = commitOf(pod.Spec.Containers[nb].Env[e].Value)
		}
	}

	if dir, ok := pod.Annotations[AnnotationProject]; ok {
		if err := ValidateProjectDir(dir); err != nil {
			errs = append(errs, field.Invalid(annotationsPath.Key(AnnotationProject), dir, err.Error()))
		}
		p.Dir = dir
	} else if p.RepoURL != "" {
		dir, err := ProjectDir(p.RepoURL)
		if err != nil {
			errs = append(errs, field.Invalid(repoPath, p.RepoURL, err.Error()))
		}
		p.Dir = dir
	} else {
		errs = append(errs, field.Required(annotationsPath.Key(AnnotationProject),
			"no project: set "+AnnotationProject+" or "+AnnotationRepoURL+", or launch through BinderHub (env "+EnvRepoURL+")"))
	}

	if img, ok := pod.Annotations[AnnotationImage]; ok {
		if img == "" || strings.ContainsAny(img, " \t\r\n") {
			errs = append(errs, field.Invalid(annotationsPath.Key(AnnotationImage), img, "must be an image reference, without white space"))
		}
		p.Image = img
	} else if nb >= 0 {
		p.Image = pod.Spec.Containers[nb].Image
		if p.Image == "" {
			errs = append(errs, field.Required(containersPath.Index(nb).Child("image"), "the notebook container has no image to seed the project from"))
		}
	}

	switch v, ok := pod.Annotations[AnnotationUpdate]; {
	case !ok, v == "false":
	case v == "true":
		p.Update = true
	default:
		errs = append(errs, field.NotSupported(annotationsPath.Key(AnnotationUpdate), v, []string{"true", "false"}))
	}

	if list, ok := pod.Annotations[AnnotationDelete]; ok {
		for _, dir := range strings.Fields(list) {
			if err := ValidateProjectDir(dir); err != nil {
				errs = append(errs, field.Invalid(annotationsPath.Key(AnnotationDelete), dir, err.Error()))
				continue
			}
			p.Deletions = append(p.Deletions, dir)
		}
	}
	return p, errs
}

// Mutate returns the pod that in becomes: the notebook container's home mounted from the project's
// folder on the user's volume, the whole volume at the projects path, and an init container that
// seeds the folder and first deletes the folders in AnnotationDelete and queued (the registry's
// deletion queue; the entries handed over are recorded in AnnotationDeletions). It never modifies in,
// and Mutate(Mutate(p)) equals Mutate(p). A pod it cannot rewrite safely gets every reason at once, as
// field errors, and nothing is changed.
func Mutate(in *corev1.Pod, cfg Config, queued ...QueuedDeletion) (*corev1.Pod, field.ErrorList) {
	return MutateWith(in, cfg, Registered{Deletions: queued})
}

// MutateWith is Mutate with what the registry holds: besides the deletion queue, the update queue
// (an entry for the launched project is handed to its init container, recorded in
// AnnotationUpdateHanded) and the recorded commits (Config.UpdateOnLaunch). Our init container runs
// our binary from Config.HelperImage: that image mounted read-only as an image volume
// (HelperImageVolume), or copied into an emptyDir by an init container from it, before ours
// (HelperInitContainer); it gets the commit (EnvCommit). An update asked for (AnnotationUpdate, a
// queued request, or UpdateOnLaunch and a commit other than the recorded one) sets EnvUpdate, unless
// the project is open in another server of the user (reg.OpenElsewhere): then the update is not handed
// to this launch (no EnvUpdate, no AnnotationUpdateHanded, so a queued request stays queued) and
// AnnotationUpdateDeferred says why. The launch itself goes ahead.
func MutateWith(in *corev1.Pod, cfg Config, reg Registered) (*corev1.Pod, field.ErrorList) {
	p, errs := ResolveProject(in, cfg)
	var handed []QueuedDeletion
	for _, q := range reg.Deletions {
		if err := ValidateProjectDir(q.Dir); err != nil {
			errs = append(errs, field.InternalError(annotationsPath.Key(AnnotationDelete), fmt.Errorf("the registry's deletion queue holds a bad folder name: %w", err)))
			continue
		}
		handed = append(handed, q)
		if !slices.Contains(p.Deletions, q.Dir) {
			p.Deletions = append(p.Deletions, q.Dir)
		}
	}
	nb := findContainer(in.Spec.Containers, cfg.NotebookContainer)
	if nb < 0 {
		return nil, append(errs, field.Required(containersPath,
			fmt.Sprintf("no container named %q: set --notebook-container to the name of the server's container", cfg.NotebookContainer)))
	}
	vol, errs2 := planVolume(in, cfg, nb, p.Dir)
	errs = append(errs, errs2...)
	if v := findVolume(in.Spec.Volumes, HelperVolumeName); v >= 0 && !isHelperVolume(in.Spec.Volumes[v], cfg) {
		errs = append(errs, field.Duplicate(field.NewPath("spec", "volumes").Index(v).Child("name"),
			HelperVolumeName+" (binder-projects adds "+helperVolumeKind(cfg)+" of this name for its helper)"))
	}
	var updateHanded *QueuedUpdate
	for i, q := range reg.Updates {
		if q.Dir == p.Dir && (updateHanded == nil || q.QueuedAt.After(updateHanded.QueuedAt)) {
			updateHanded = &reg.Updates[i]
		}
	}
	update := p.Update || updateHanded != nil
	if recorded := reg.Commits[p.Dir]; cfg.UpdateOnLaunch && recorded != "" && ValidCommit(p.Commit) && recorded != p.Commit {
		update = true
	}
	var deferral *UpdateDeferral
	if update {
		if deferral = deferUpdate(p.Dir, reg.OpenElsewhere, updateHanded, p.Update); deferral != nil {
			update, updateHanded = false, nil
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}

	out := in.DeepCopy()
	if vol.add != nil {
		out.Spec.Volumes = append(out.Spec.Volumes, *vol.add)
	}
	nbc := &out.Spec.Containers[nb]
	ensureMount(nbc, corev1.VolumeMount{Name: vol.name, MountPath: cfg.HomeMountPath, SubPath: p.Dir})
	ensureMount(nbc, corev1.VolumeMount{Name: vol.name, MountPath: cfg.ProjectsMountPath})
	ic := initContainer(cfg, nbc, vol.name, p, handed)
	if update {
		ic.Env = append(ic.Env, corev1.EnvVar{Name: EnvUpdate, Value: "1"})
	}
	ensureHelper(out, cfg, &ic, p.Commit)
	ensureInitContainer(out, ic)
	if cfg.HelperMode == HelperInitContainer {
		ensureInitContainerBefore(out, helperContainer(cfg, nbc), cfg.InitContainerName)
	}
	if cfg.CoLocateUserServers {
		ensureCoLocated(out)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	if len(handed) > 0 {
		b, err := json.Marshal(handed)
		if err != nil {
			return nil, field.ErrorList{field.InternalError(annotationsPath.Key(AnnotationDeletions), err)}
		}
		out.Annotations[AnnotationDeletions] = string(b)
	} else {
		delete(out.Annotations, AnnotationDeletions)
	}
	if updateHanded != nil {
		b, err := json.Marshal(updateHanded)
		if err != nil {
			return nil, field.ErrorList{field.InternalError(annotationsPath.Key(AnnotationUpdateHanded), err)}
		}
		out.Annotations[AnnotationUpdateHanded] = string(b)
	} else {
		delete(out.Annotations, AnnotationUpdateHanded)
	}
	if deferral != nil {
		b, err := json.Marshal(deferral)
		if err != nil {
			return nil, field.ErrorList{field.InternalError(annotationsPath.Key(AnnotationUpdateDeferred), err)}
		}
		out.Annotations[AnnotationUpdateDeferred] = string(b)
	} else {
		delete(out.Annotations, AnnotationUpdateDeferred)
	}
	out.Annotations[AnnotationProjectDir] = p.Dir
	if p.RepoURL != "" {
		out.Annotations[AnnotationRepoURL] = p.RepoURL
	}
	if p.Commit != "" {
		out.Annotations[AnnotationCommit] = p.Commit
	}
	out.Annotations[AnnotationStatus] = StatusInjected
	return out, nil
}

// UserClaim is the name of the claim that Mutate mounts for pod, or "" when Mutate would refuse the
// pod's storage.
func UserClaim(pod *corev1.Pod, cfg Config) string {
	nb := findContainer(pod.Spec.Containers, cfg.NotebookContainer)
	if nb < 0 {
		return ""
	}
	plan, errs := planVolume(pod, cfg, nb, "")
	if len(errs) > 0 && plan.name == "" {
		return ""
	}
	if plan.add != nil {
		return plan.add.PersistentVolumeClaim.ClaimName
	}
	if v := findVolume(pod.Spec.Volumes, plan.name); v >= 0 && pod.Spec.Volumes[v].PersistentVolumeClaim != nil {
		return pod.Spec.Volumes[v].PersistentVolumeClaim.ClaimName
	}
	return ""
}

// commitOf is the ref at the end of a BinderHub request such as v2/gh/owner/repo/<ref>, when it
// looks like one (no white space, at most 128 bytes).
func commitOf(request string) string {
	i := strings.LastIndexByte(request, '/')
	if i < 0 || !strings.HasPrefix(request, "v2/") {
		return ""
	}
	ref := request[i+1:]
	if ref == "" || len(ref) > 128 || strings.ContainsAny(ref, " \t\r\n") {
		return ""
	}
	return ref
}

// volumePlan is the pod volume that holds the user's claim, and the volume to add when the pod has
// none (BinderHub's default storage type "none").
type volumePlan struct {
	name string
	add  *corev1.Volume
}

// planVolume finds the volume mounted at the home path, or plans the claim's volume, and reports
// every mount that would clash with ours.
func planVolume(pod *corev1.Pod, cfg Config, nb int, dir string) (volumePlan, field.ErrorList) {
	var errs field.ErrorList
	var plan volumePlan
	c := pod.Spec.Containers[nb]
	mountsPath := containersPath.Index(nb).Child("volumeMounts")

	if hm := findMount(c.VolumeMounts, cfg.HomeMountPath); hm >= 0 {
		m := c.VolumeMounts[hm]
		plan.name = m.Name
		if v := findVolume(pod.Spec.Volumes, m.Name); v < 0 || pod.Spec.Volumes[v].PersistentVolumeClaim == nil {
			errs = append(errs, field.Invalid(mountsPath.Index(hm).Child("name"), m.Name,
				fmt.Sprintf("%s is mounted from a volume that is not a PersistentVolumeClaim; binder-projects keeps projects on the user's claim (use singleuser.storage.type dynamic or none)", cfg.HomeMountPath)))
		} else if err := perServerClaim(pod, cfg, pod.Spec.Volumes[v].PersistentVolumeClaim.ClaimName); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "volumes").Index(v).Child("persistentVolumeClaim", "claimName"),
				pod.Spec.Volumes[v].PersistentVolumeClaim.ClaimName, err.Error()))
		}
		if m.SubPath != "" && m.SubPath != dir {
			errs = append(errs, field.Invalid(mountsPath.Index(hm).Child("subPath"), m.SubPath,
				fmt.Sprintf("%s already has a subPath; binder-projects sets it to the project folder %q", cfg.HomeMountPath, dir)))
		}
		if m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(mountsPath.Index(hm).Child("subPathExpr"), m.SubPathExpr,
				fmt.Sprintf("%s already has a subPathExpr; binder-projects sets subPath to the project folder %q", cfg.HomeMountPath, dir)))
		}
	} else {
		user, server := pod.Annotations[AnnotationHubUsername], pod.Annotations[AnnotationHubServername]
		if user == "" {
			errs = append(errs, field.Required(annotationsPath.Key(AnnotationHubUsername),
				fmt.Sprintf("the pod has no volume at %s and no user name (KubeSpawner sets this annotation), so the user's claim cannot be named", cfg.HomeMountPath)))
			return plan, errs
		}
		claim, err := cfg.ClaimName(user, server)
		if err != nil {
			errs = append(errs, field.Invalid(annotationsPath.Key(AnnotationHubUsername), user,
				fmt.Sprintf("cannot name the user's claim with --claim-name-template: %v", err)))
			return plan, errs
		}
		if v := findClaimVolume(pod.Spec.Volumes, claim); v >= 0 {
			plan.name = pod.Spec.Volumes[v].Name
			for i, m := range c.VolumeMounts {
				if m.Name == plan.name {
					errs = append(errs, field.Invalid(mountsPath.Index(i).Child("mountPath"), m.MountPath,
						fmt.Sprintf("the user's claim %s is mounted here, not at the home %s: set --home-mount-path to the notebook's home", claim, cfg.HomeMountPath)))
				}
			}
		} else {
			if plan.name, err = cfg.VolumeName(user, server); err != nil {
				errs = append(errs, field.Invalid(annotationsPath.Key(AnnotationHubUsername), user,
					fmt.Sprintf("cannot name the volume with --volume-name-template: %v", err)))
				return plan, errs
			}
			if v := findVolume(pod.Spec.Volumes, plan.name); v >= 0 {
				errs = append(errs, field.Duplicate(field.NewPath("spec", "volumes").Index(v).Child("name"),
					plan.name+" (binder-projects would add this volume for claim "+claim+")"))
			}
			plan.add = &corev1.Volume{Name: plan.name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
			}}
		}
	}

	if pm := findMount(c.VolumeMounts, cfg.ProjectsMountPath); pm >= 0 {
		if m := c.VolumeMounts[pm]; m.Name != plan.name || m.SubPath != "" || m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(mountsPath.Index(pm).Child("mountPath"), m.MountPath,
				fmt.Sprintf("something else is already mounted at %s; set --projects-mount-path to a free path", cfg.ProjectsMountPath)))
		}
	}
	return plan, errs
}

// perServerClaim refuses a named server whose home is a claim of its own: BinderHub gives every
// launch a new server name, so such a claim (KubeSpawner's default claim-{user_server}) is new and
// empty each time, and the user's other projects, the limit and the deletion queue are never seen.
func perServerClaim(pod *corev1.Pod, cfg Config, claim string) error {
	user, server := pod.Annotations[AnnotationHubUsername], pod.Annotations[AnnotationHubServername]
	if server == "" || user == "" || cfg.AllowPerServerClaims {
		return nil
	}
	want, err := cfg.ClaimName(user, server)
	if err != nil || want == claim {
		return nil
	}
	return fmt.Errorf("named server %q mounts a claim of its own, so its projects would never be found again (BinderHub gives every launch a new server name): "+
		"give all of a user's servers one claim with singleuser.storage.dynamic.pvcNameTemplate: %s in the z2jh values "+
		"(binder-projects --claim-name-template, which names %s for this user), or start binder-projects with --allow-per-server-claims",
		server, cfg.ClaimNameTemplate, want)
}

// initContainer is the container that seeds the project: the project's image, the notebook's
// security context and resources, the user's volume at the projects path only (so it still sees
// the image's own home), inputs as env vars.
func initContainer(cfg Config, nb *corev1.Container, volume string, p Project, handed []QueuedDeletion) corev1.Container {
	return corev1.Container{
		Name:    cfg.InitContainerName,
		Image:   p.Image,
		Command: cfg.InitCommand(),
		Env: []corev1.EnvVar{
			{Name: EnvProjectsRoot, Value: cfg.ProjectsMountPath},
			{Name: EnvProject, Value: p.Dir},
			{Name: EnvSource, Value: cfg.HomeMountPath},
			{Name: EnvDelete, Value: strings.Join(p.Deletions, " ")},
			{Name: EnvDeleteIDs, Value: deletionIDs(p.Deletions, handed)},
			{Name: EnvReport, Value: corev1.TerminationMessagePathDefault},
			{Name: EnvPod, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: volume, MountPath: cfg.ProjectsMountPath}},
		Resources:                *nb.Resources.DeepCopy(),
		SecurityContext:          nb.SecurityContext.DeepCopy(),
		ImagePullPolicy:          nb.ImagePullPolicy,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// deletionIDs is EnvDeleteIDs for the folders dirs: each one's queue entry time in Unix nanoseconds,
// or 0 for a folder that is not a queue entry (the delete annotation).
func deletionIDs(dirs []string, handed []QueuedDeletion) string {
	ids := make([]string, len(dirs))
	for i, d := range dirs {
		ids[i] = "0"
		for _, q := range handed {
			if q.Dir == d {
				ids[i] = strconv.FormatInt(q.QueuedAt.UnixNano(), 10)
			}
		}
	}
	return strings.Join(ids, " ")
}

// ensureCoLocated asks the scheduler to put pod on the node of the user's other singleuser pods, when
// there are any: a required pod affinity to pods with the same component and username labels. Every
// server of a user mounts the one claim of the user, and a ReadWriteOnce claim can be mounted on one
// node only; without this, a second server scheduled elsewhere would wait forever on a Multi-Attach
// error. The user's first server matches its own term, which the scheduler accepts anywhere. A pod
// without the username label is left as it is.
func ensureCoLocated(pod *corev1.Pod) {
	user, ok := pod.Labels[AnnotationHubUsername]
	if !ok {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			LabelComponent:        ComponentSingleuser,
			AnnotationHubUsername: user,
		}},
		TopologyKey: LabelHostname,
	}
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	if pod.Spec.Affinity.PodAffinity == nil {
		pod.Spec.Affinity.PodAffinity = &corev1.PodAffinity{}
	}
	pa := pod.Spec.Affinity.PodAffinity
	for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
		if t.TopologyKey == term.TopologyKey && t.LabelSelector != nil && len(t.LabelSelector.MatchExpressions) == 0 &&
			maps.Equal(t.LabelSelector.MatchLabels, term.LabelSelector.MatchLabels) {
			return
		}
	}
	pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, term)
}

// ensureMount makes c mount m at m.MountPath, replacing what was there.
func ensureMount(c *corev1.Container, m corev1.VolumeMount) {
	if i := findMount(c.VolumeMounts, m.MountPath); i >= 0 {
		c.VolumeMounts[i].Name = m.Name
		c.VolumeMounts[i].SubPath = m.SubPath
		return
	}
	c.VolumeMounts = append(c.VolumeMounts, m)
}

// ensureHelper gives the pod the helper's volume (helperVolume; one already there was checked to be
// isHelperVolume) and our init container ic its read-only mount and the commit, when it is a valid one.
func ensureHelper(pod *corev1.Pod, cfg Config, ic *corev1.Container, commit string) {
	if findVolume(pod.Spec.Volumes, HelperVolumeName) < 0 {
		pod.Spec.Volumes = append(pod.Spec.Volumes, helperVolume(cfg))
	}
	ic.VolumeMounts = append(ic.VolumeMounts, corev1.VolumeMount{Name: HelperVolumeName, MountPath: HelperMountPath, ReadOnly: true})
	if ValidCommit(commit) {
		ic.Env = append(ic.Env, corev1.EnvVar{Name: EnvCommit, Value: commit})
	}
}

// helperVolume is the volume that carries the helper: our image as an image volume, pulled only if
// the node does not have it (the chart names a versioned image; a :latest one is not pulled again), or
// the emptyDir the helper's init container fills.
func helperVolume(cfg Config) corev1.Volume {
	if cfg.HelperMode == HelperInitContainer {
		return corev1.Volume{Name: HelperVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	return corev1.Volume{Name: HelperVolumeName, VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{
		Reference: cfg.HelperImage, PullPolicy: corev1.PullIfNotPresent}}}
}

// isHelperVolume reports whether a volume of the helper's name is one ensureHelper may keep: any
// emptyDir (HelperInitContainer), or exactly the image volume helperVolume adds (HelperImageVolume;
// another image would run another binary).
func isHelperVolume(v corev1.Volume, cfg Config) bool {
	if cfg.HelperMode == HelperInitContainer {
		return v.EmptyDir != nil
	}
	return reflect.DeepEqual(v.VolumeSource, helperVolume(cfg).VolumeSource)
}

// helperVolumeKind says, for a refusal, what helperVolume adds.
func helperVolumeKind(cfg Config) string {
	if cfg.HelperMode == HelperInitContainer {
		return "an emptyDir"
	}
	return fmt.Sprintf("an image volume (image %s, pullPolicy %s)", cfg.HelperImage, corev1.PullIfNotPresent)
}

// helperContainer is the init container that copies our binary into the helper's emptyDir: our
// image, the notebook's security context (so it runs as the notebook's user, like our init
// container) and resources (an init container's do not add to the pod's).
func helperContainer(cfg Config, nb *corev1.Container) corev1.Container {
	return corev1.Container{
		Name:                     cfg.HelperContainerName(),
		Image:                    cfg.HelperImage,
		Command:                  []string{HelperBinaryInImage, "install-helper", "--to", HelperMountPath},
		VolumeMounts:             []corev1.VolumeMount{{Name: HelperVolumeName, MountPath: HelperMountPath}},
		Resources:                *nb.Resources.DeepCopy(),
		SecurityContext:          nb.SecurityContext.DeepCopy(),
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// ensureInitContainerBefore puts ic right before the init container named before (which exists),
// replacing an init container of ic's name wherever it is.
func ensureInitContainerBefore(pod *corev1.Pod, ic corev1.Container, before string) {
	if i := findContainer(pod.Spec.InitContainers, ic.Name); i >= 0 {
		if j := findContainer(pod.Spec.InitContainers, before); j == i+1 {
			pod.Spec.InitContainers[i] = ic
			return
		}
		pod.Spec.InitContainers = slices.Delete(pod.Spec.InitContainers, i, i+1)
	}
	j := findContainer(pod.Spec.InitContainers, before)
	pod.Spec.InitContainers = slices.Insert(pod.Spec.InitContainers, j, ic)
}

// ensureInitContainer puts ic in place of the init container of its name, or after all others.
func ensureInitContainer(pod *corev1.Pod, ic corev1.Container) {
	if i := findContainer(pod.Spec.InitContainers, ic.Name); i >= 0 {
		pod.Spec.InitContainers[i] = ic
		return
	}
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, ic)
}

func findMount(ms []corev1.VolumeMount, mountPath string) int {
	for i := range ms {
		if ms[i].MountPath == mountPath {
			return i
		}
	}
	return -1
}

func findVolume(vs []corev1.Volume, name string) int {
	for i := range vs {
		if vs[i].Name == name {
			return i
		}
	}
	return -1
}

func findClaimVolume(vs []corev1.Volume, claim string) int {
	for i := range vs {
		if pvc := vs[i].PersistentVolumeClaim; pvc != nil && pvc.ClaimName == claim {
			return i
		}
	}
	return -1
}
