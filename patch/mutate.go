package patch

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/binder-projects/binder-projects/contract"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Registered is what the user's projects registry holds that a launch needs (Apply).
type Registered struct {
	// Deletions is the deletion queue: every entry goes to the init container.
	Deletions []contract.QueueEntry
	// Updates is the update queue: only an entry for the launched project goes to its init container.
	Updates []contract.QueueEntry
	// Restores and Purges are the trash entries waiting to be put back or deleted for good (named by
	// their deletion, contract.TrashEntryOf), oldest first: the first contract.MaxRestoresPerStart and
	// contract.MaxPurgesPerStart go to the init container.
	Restores []contract.QueueEntry
	Purges   []contract.QueueEntry
	// Commits maps a project folder to the commit the registry records for it (for
	// Config.UpdateOnLaunch); nil is none.
	Commits map[contract.ProjectDir]string
	// OpenElsewhere are the user's other servers on the same claim that have not ended, each with
	// the project it has open (OpenServers picks them from the webhook's cache). A launch of a project
	// open in one of them gets no update: it is deferred (AnnotationUpdateDeferred).
	OpenElsewhere []contract.OpenServer
}

// Project is what a pod launches, resolved from its annotations or from BinderHub's env.
type Project struct {
	// Dir is the project's folder on the user's volume.
	Dir contract.ProjectDir
	// RepoURL is the repository the project comes from, without user info; empty when the project
	// was named explicitly and no URL is known.
	RepoURL string
	// Image is the image the init container seeds the project from.
	Image string
	// Commit is the ref BinderHub resolved for this launch (the last part of
	// BINDER_PERSISTENT_REQUEST), when known.
	Commit string
	// Deletions are project folders a launcher asked the init container to delete first
	// (AnnotationDelete).
	Deletions []contract.ProjectDir
	// Update says the launch asks for an update of the project (AnnotationUpdate is "true").
	Update bool
}

// Launch is what admission resolves from a pod alone, once (Resolve): the project, and the user's
// claim it lives on. The webhook reads the claim's registry, checks the claim's owner and the project
// limit, and then Apply rewrites the pod.
type Launch struct {
	Project
	// Claim is the user's claim, where every project of the user lives.
	Claim string
	// ClaimField is where the claim's name comes from, for a refusal about the claim: the pod's
	// volume that names it, or the user name annotation its name is made from.
	ClaimField *field.Path
	// User and Server are the raw JupyterHub names (hub.jupyter.org/username and servername).
	User, Server string

	nb  int
	vol volumePlan
}

var (
	annotationsPath = field.NewPath("metadata", "annotations")
	containersPath  = field.NewPath("spec", "containers")
)

// Resolve reads what pod launches and plans where: the project (ResolveProject), the claim and the
// volume that holds it (the one mounted at the home path, or the claim the template names, added),
// and every clash with what binder-projects adds. A pod it cannot rewrite safely gets every reason at
// once, as field errors. It never modifies pod.
func Resolve(pod *corev1.Pod, cfg Config) (Launch, field.ErrorList) {
	p, errs := ResolveProject(pod, cfg)
	l := Launch{Project: p, User: pod.Annotations[contract.AnnotationHubUsername], Server: pod.Annotations[contract.AnnotationHubServername]}
	l.nb = findContainer(pod.Spec.Containers, cfg.NotebookContainer)
	if l.nb < 0 {
		return l, append(errs, field.Required(containersPath,
			fmt.Sprintf("no container named %q: set --notebook-container to the name of the server's container", cfg.NotebookContainer)))
	}
	vol, errs2 := planVolume(pod, cfg, l.nb, p.Dir)
	errs = append(errs, errs2...)
	l.vol = vol
	l.Claim, l.ClaimField = vol.claim, vol.claimField
	if v := findVolume(pod.Spec.Volumes, HelperVolumeName); v >= 0 && !isHelperVolume(pod.Spec.Volumes[v], cfg) {
		errs = append(errs, field.Duplicate(field.NewPath("spec", "volumes").Index(v).Child("name"),
			HelperVolumeName+" (binder-projects adds "+helperVolumeKind(cfg)+" of this name for its helper)"))
	}
	return l, errs
}

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
	repoPath := annotationsPath.Key(contract.AnnotationRepoURL)
	p.RepoURL = contract.RedactRepoURL(pod.Annotations[contract.AnnotationRepoURL])
	if p.RepoURL == "" && nb >= 0 {
		if e := findEnv(pod.Spec.Containers[nb].Env, contract.EnvRepoURL); e >= 0 {
			p.RepoURL = contract.RedactRepoURL(pod.Spec.Containers[nb].Env[e].Value)
			repoPath = containersPath.Index(nb).Child("env").Index(e).Child("value")
		}
	}

	if nb >= 0 {
		if e := findEnv(pod.Spec.Containers[nb].Env, contract.EnvPersistentRequest); e >= 0 {
			p.Commit = commitOf(pod.Spec.Containers[nb].Env[e].Value)
		}
	}

	if name, ok := pod.Annotations[contract.AnnotationProject]; ok {
		dir, err := contract.ParseProjectDir(name)
		if err != nil {
			errs = append(errs, field.Invalid(annotationsPath.Key(contract.AnnotationProject), name, err.Error()))
		}
		p.Dir = dir
	} else if p.RepoURL != "" {
		dir, err := contract.ProjectDirOf(p.RepoURL)
		if err != nil {
			errs = append(errs, field.Invalid(repoPath, p.RepoURL, err.Error()))
		}
		p.Dir = dir
	} else {
		errs = append(errs, field.Required(annotationsPath.Key(contract.AnnotationProject),
			"no project: set "+contract.AnnotationProject+" or "+contract.AnnotationRepoURL+", or launch through BinderHub (env "+contract.EnvRepoURL+")"))
	}

	if img, ok := pod.Annotations[contract.AnnotationImage]; ok {
		if img == "" || strings.ContainsAny(img, " \t\r\n") {
			errs = append(errs, field.Invalid(annotationsPath.Key(contract.AnnotationImage), img, "must be an image reference, without white space"))
		}
		p.Image = img
	} else if nb >= 0 {
		p.Image = pod.Spec.Containers[nb].Image
		if p.Image == "" {
			errs = append(errs, field.Required(containersPath.Index(nb).Child("image"), "the notebook container has no image to seed the project from"))
		}
	}

	switch v, ok := pod.Annotations[contract.AnnotationUpdate]; {
	case !ok, v == "false":
	case v == "true":
		p.Update = true
	default:
		errs = append(errs, field.NotSupported(annotationsPath.Key(contract.AnnotationUpdate), v, []string{"true", "false"}))
	}

	dirs, bad := contract.RequestedDeletions(pod.Annotations)
	p.Deletions = dirs
	for _, name := range slices.Sorted(maps.Keys(bad)) {
		errs = append(errs, field.Invalid(annotationsPath.Key(contract.AnnotationDelete), name, bad[name].Error()))
	}
	return p, errs
}

// Apply returns the pod that in becomes, for l (Resolve's answer for in, without errors) and what
// the user's registry holds: the notebook container's home mounted from the project's folder on the
// user's volume, the whole volume at the projects path, and our init container, which runs our binary
// from Config.HelperImage (mounted read-only as an image volume, HelperImageVolume, or copied into an
// emptyDir by an init container from it, before ours, HelperInitContainer). The init container first
// deletes the folders the launcher asked for and the registry's queued ones (the entries handed over
// are recorded in AnnotationDeletions), then seeds the project; it gets the commit (EnvCommit). An
// update asked for (AnnotationUpdate, a queued request, or UpdateOnLaunch and a commit other than the
// recorded one) sets EnvUpdate, unless the project is open in another server of the user
// (reg.OpenElsewhere): then the update is not handed to this launch (no EnvUpdate, no
// AnnotationUpdateHanded, so a queued request stays queued) and AnnotationUpdateDeferred says why.
// The oldest queued restores and purges go to the init container (EnvRestore, EnvPurge; recorded in
// AnnotationRestores, AnnotationPurges), at most contract.MaxRestoresPerStart and MaxPurgesPerStart,
// so many as its report always holds; the others wait for the next launch. With them go the trash
// days and the usage budget (EnvTrashDays, EnvUsageBudget). The pod records what the registry
// controller needs: the claim (AnnotationClaim), the project folder, repository, image and commit,
// and the entries handed over. Apply never modifies in, and applying it to its own output changes
// nothing.
func Apply(in *corev1.Pod, cfg Config, l Launch, reg Registered) *corev1.Pod {
	p := l.Project
	handed := reg.Deletions
	restores := reg.Restores[:min(len(reg.Restores), contract.MaxRestoresPerStart)]
	purges := reg.Purges[:min(len(reg.Purges), contract.MaxPurgesPerStart)]
	var updateHanded *contract.QueueEntry
	for i, q := range reg.Updates {
		if q.Dir == p.Dir && (updateHanded == nil || q.QueuedAt.After(updateHanded.QueuedAt)) {
			updateHanded = &reg.Updates[i]
		}
	}
	update := p.Update || updateHanded != nil
	if recorded := reg.Commits[p.Dir]; cfg.UpdateOnLaunch && recorded != "" && contract.CheckCommit(p.Commit) == nil && recorded != p.Commit {
		update = true
	}
	var deferral *contract.UpdateDeferral
	if update {
		if deferral = deferUpdate(p.Dir, reg.OpenElsewhere, updateHanded, p.Update); deferral != nil {
			update, updateHanded = false, nil
		}
	}

	out := in.DeepCopy()
	if l.vol.add != nil {
		out.Spec.Volumes = append(out.Spec.Volumes, *l.vol.add)
	}
	nbc := &out.Spec.Containers[l.nb]
	ensureMount(nbc, corev1.VolumeMount{Name: l.vol.name, MountPath: cfg.HomeMountPath, SubPath: string(p.Dir)})
	ensureMount(nbc, corev1.VolumeMount{Name: l.vol.name, MountPath: cfg.ProjectsMountPath})
	ic := initContainer(cfg, nbc, l.vol.name, p, handed)
	ic.Env = append(ic.Env, trashEnv(cfg, restores, purges)...)
	if update {
		ic.Env = append(ic.Env, corev1.EnvVar{Name: contract.EnvUpdate, Value: "1"})
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
	setJSON(out.Annotations, contract.AnnotationDeletions, handed, len(handed) > 0)
	setJSON(out.Annotations, contract.AnnotationRestores, restores, len(restores) > 0)
	setJSON(out.Annotations, contract.AnnotationPurges, purges, len(purges) > 0)
	setJSON(out.Annotations, contract.AnnotationUpdateHanded, updateHanded, updateHanded != nil)
	setJSON(out.Annotations, contract.AnnotationUpdateDeferred, deferral, deferral != nil)
	out.Annotations[contract.AnnotationClaim] = l.Claim
	out.Annotations[contract.AnnotationProjectDir] = string(p.Dir)
	out.Annotations[contract.AnnotationImage] = p.Image
	if p.RepoURL != "" {
		out.Annotations[contract.AnnotationRepoURL] = p.RepoURL
	}
	if p.Commit != "" {
		out.Annotations[contract.AnnotationCommit] = p.Commit
	}
	out.Annotations[contract.AnnotationStatus] = contract.StatusInjected
	return out
}

// setJSON sets annotations[key] to v as JSON when set, and removes it otherwise. The values are the
// contract's plain types, which always marshal.
func setJSON(annotations map[string]string, key string, v any, set bool) {
	if !set {
		delete(annotations, key)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("binder-projects: annotation %s: %v", key, err))
	}
	annotations[key] = string(b)
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
	// claim is the claim's name, claimField where it comes from.
	claim      string
	claimField *field.Path
}

// planVolume finds the volume mounted at the home path, or plans the claim's volume, and reports
// every mount that would clash with ours.
func planVolume(pod *corev1.Pod, cfg Config, nb int, dir contract.ProjectDir) (volumePlan, field.ErrorList) {
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
		} else {
			plan.claim = pod.Spec.Volumes[v].PersistentVolumeClaim.ClaimName
			plan.claimField = field.NewPath("spec", "volumes").Index(v).Child("persistentVolumeClaim", "claimName")
			if err := perServerClaim(pod, cfg, plan.claim); err != nil {
				errs = append(errs, field.Invalid(plan.claimField, plan.claim, err.Error()))
			}
		}
		if m.SubPath != "" && m.SubPath != string(dir) {
			errs = append(errs, field.Invalid(mountsPath.Index(hm).Child("subPath"), m.SubPath,
				fmt.Sprintf("%s already has a subPath; binder-projects sets it to the project folder %q", cfg.HomeMountPath, dir)))
		}
		if m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(mountsPath.Index(hm).Child("subPathExpr"), m.SubPathExpr,
				fmt.Sprintf("%s already has a subPathExpr; binder-projects sets subPath to the project folder %q", cfg.HomeMountPath, dir)))
		}
	} else {
		user, server := pod.Annotations[contract.AnnotationHubUsername], pod.Annotations[contract.AnnotationHubServername]
		if user == "" {
			errs = append(errs, field.Required(annotationsPath.Key(contract.AnnotationHubUsername),
				fmt.Sprintf("the pod has no volume at %s and no user name (KubeSpawner sets this annotation), so the user's claim cannot be named", cfg.HomeMountPath)))
			return plan, errs
		}
		claim, err := cfg.ClaimName(user, server)
		if err != nil {
			errs = append(errs, field.Invalid(annotationsPath.Key(contract.AnnotationHubUsername), user,
				fmt.Sprintf("cannot name the user's claim with --claim-name-template: %v", err)))
			return plan, errs
		}
		plan.claim, plan.claimField = claim, annotationsPath.Key(contract.AnnotationHubUsername)
		if v := findClaimVolume(pod.Spec.Volumes, claim); v >= 0 {
			plan.name = pod.Spec.Volumes[v].Name
			plan.claimField = field.NewPath("spec", "volumes").Index(v).Child("persistentVolumeClaim", "claimName")
			for i, m := range c.VolumeMounts {
				if m.Name == plan.name {
					errs = append(errs, field.Invalid(mountsPath.Index(i).Child("mountPath"), m.MountPath,
						fmt.Sprintf("the user's claim %s is mounted here, not at the home %s: set --home-mount-path to the notebook's home", claim, cfg.HomeMountPath)))
				}
			}
		} else {
			if plan.name, err = cfg.VolumeName(user, server); err != nil {
				errs = append(errs, field.Invalid(annotationsPath.Key(contract.AnnotationHubUsername), user,
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
	user, server := pod.Annotations[contract.AnnotationHubUsername], pod.Annotations[contract.AnnotationHubServername]
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
func initContainer(cfg Config, nb *corev1.Container, volume string, p Project, handed []contract.QueueEntry) corev1.Container {
	dirs := contract.InitDeletions(p.Deletions, handed)
	return corev1.Container{
		Name:    cfg.InitContainerName,
		Image:   p.Image,
		Command: cfg.InitCommand(),
		Env: []corev1.EnvVar{
			{Name: contract.EnvRoot, Value: cfg.ProjectsMountPath},
			{Name: contract.EnvProject, Value: string(p.Dir)},
			{Name: contract.EnvSource, Value: cfg.HomeMountPath},
			{Name: contract.EnvDelete, Value: joinDirs(dirs)},
			{Name: contract.EnvDeleteIDs, Value: deletionIDs(dirs, handed)},
			{Name: contract.EnvReport, Value: corev1.TerminationMessagePathDefault},
			{Name: contract.EnvPod, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
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
func deletionIDs(dirs []contract.ProjectDir, handed []contract.QueueEntry) string {
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

// trashEnv is the init container's trash and usage inputs: the trash days and the usage budget, and
// the trash entries to put back and to delete for good, when there are any (EnvRestore, EnvPurge:
// each TrashEntryName, in queue order, which the report's positions refer to).
func trashEnv(cfg Config, restores, purges []contract.QueueEntry) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: contract.EnvTrashDays, Value: strconv.Itoa(cfg.TrashDays)},
		{Name: contract.EnvUsageBudget, Value: strconv.FormatInt(cfg.UsageBudget.Milliseconds(), 10)},
	}
	for _, l := range []struct {
		name    string
		entries []contract.QueueEntry
	}{{contract.EnvRestore, restores}, {contract.EnvPurge, purges}} {
		if len(l.entries) == 0 {
			continue
		}
		names := make([]string, len(l.entries))
		for i, q := range l.entries {
			names[i] = contract.TrashEntryName(contract.TrashID(q), q.Dir)
		}
		env = append(env, corev1.EnvVar{Name: l.name, Value: strings.Join(names, " ")})
	}
	return env
}

// joinDirs is EnvDelete's value: the folders, separated by spaces.
func joinDirs(dirs []contract.ProjectDir) string {
	ss := make([]string, len(dirs))
	for i, d := range dirs {
		ss[i] = string(d)
	}
	return strings.Join(ss, " ")
}

// ensureCoLocated asks the scheduler to put pod on the node of the user's other singleuser pods, when
// there are any: a required pod affinity to pods with the same component and username labels. Every
// server of a user mounts the one claim of the user, and a ReadWriteOnce claim can be mounted on one
// node only; without this, a second server scheduled elsewhere would wait forever on a Multi-Attach
// error. The user's first server matches its own term, which the scheduler accepts anywhere. A pod
// without the username label is left as it is.
func ensureCoLocated(pod *corev1.Pod) {
	user, ok := pod.Labels[contract.AnnotationHubUsername]
	if !ok {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			contract.LabelComponent:        contract.ComponentSingleuser,
			contract.AnnotationHubUsername: user,
		}},
		TopologyKey: contract.LabelHostname,
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
	if contract.CheckCommit(commit) == nil {
		ic.Env = append(ic.Env, corev1.EnvVar{Name: contract.EnvCommit, Value: commit})
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
