package contract

// OpenServer is another server of the same user that has a project open: a pod that binder-projects
// mutated, on the same claim, that has not ended. Files an update changes would change under its
// running kernels and editor, so a launch of that project gets no update (UpdateDeferral).
type OpenServer struct {
	// Pod is the server's pod.
	Pod string `json:"pod"`
	// Server is its server name (hub.jupyter.org/servername), "" for the user's default server.
	Server string `json:"server"`
	// Stopping says the pod is being deleted (it counts until it is gone: its kernels may still write).
	Stopping bool `json:"stopping,omitempty"`
	// Dir is the project folder it has open at its home (its AnnotationProjectDir).
	Dir ProjectDir `json:"-"`
}

// How an update was asked for, in UpdateDeferral.Asked: the strongest of the ways that asked.
const (
	// UpdateAskedQueue: a request queued on the claim (the projects page's "Update"); it stays queued.
	UpdateAskedQueue = "queue"
	// UpdateAskedAnnotation: the pod annotation AnnotationUpdate.
	UpdateAskedAnnotation = "annotation"
	// UpdateAskedOnLaunch: the webhook's --update-on-launch, the launched commit being other than the
	// recorded one.
	UpdateAskedOnLaunch = "update-on-launch"
)

// UpdateDeferral is the value of AnnotationUpdateDeferred: an update was asked for but not handed to
// this launch, because the project is open in the user's other servers.
type UpdateDeferral struct {
	// Asked is how the update was asked for (UpdateAskedQueue, UpdateAskedAnnotation or
	// UpdateAskedOnLaunch).
	Asked string `json:"asked"`
	// Open are the user's other servers that have the project open, by pod name.
	Open []OpenServer `json:"open"`
}

// DeferredUpdate reads AnnotationUpdateDeferred from a pod's annotations: why an update asked for
// was not handed to the pod's init container, nil if none was deferred; a value that does not parse
// is an error.
func DeferredUpdate(annotations map[string]string) (*UpdateDeferral, error) {
	return annotationJSON[UpdateDeferral](annotations, AnnotationUpdateDeferred)
}
