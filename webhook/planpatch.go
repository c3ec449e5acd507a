package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

// The plan patch: the JSON patch of an admission built from what the mutation (patch.Apply) changed, area by area,
// instead of diffing whole pods (controller-runtime marshals the mutated pod and diffs it against the
// raw request as maps: most of an admission's cost, see docs/performance.md).
//
// Mutate changes few places: it appends a volume, sets or appends the notebook container's mounts,
// appends (or replaces) its init container, adds the pod affinity, and sets annotations. planPatch
// compares the decoded request with Mutate's result in exactly those places and writes one operation
// per change; if anything else differs, it says errUnplanned and the library diff answers instead.
//
// Where an operation goes depends on what the raw request holds, not only on the typed pod. Decoding
// keeps presence exactly for the members we write under: a nil slice, map or pointer was absent or
// null in the request, a non-nil one was an array or object there (for arrays, of the same length).
// Those members are written whole when the request had nothing there (so nothing unknown to our
// k8s.io/api can be lost) and element by element or key by key otherwise, never re-sending what the
// request had. The one struct-valued parent we may write under, metadata, is looked up in the raw
// request when the typed pod cannot tell. A member whose raw value is an object we do not fully
// know (a replaced init container) is diffed against its own raw bytes, the library's way.
//
// The request is taken to be what an API server sends: a JSON object without duplicate member names.

// errUnplanned says Mutate changed something planPatch does not plan: the library diff must answer.
var errUnplanned = errors.New("the mutation changed a part of the pod that the plan patch does not cover")

// planPatch returns the JSON patch that turns raw (the request's pod, in as decoded) into out, or
// nil when out equals in.
func planPatch(raw []byte, in, out *corev1.Pod) ([]byte, error) {
	if !sameOutsidePlan(in, out) {
		return nil, errUnplanned
	}
	var b patchBuilder
	b.buf.Grow(32 << 10) // the init command alone is about 22 kB of JSON
	if err := planAnnotations(&b, raw, in, out); err != nil {
		return nil, err
	}
	if err := growOnly(&b, "/spec/volumes", in.Spec.Volumes, out.Spec.Volumes); err != nil {
		return nil, err
	}
	for i := range in.Spec.Containers {
		if err := planMounts(&b, "/spec/containers/"+strconv.Itoa(i)+"/volumeMounts",
			in.Spec.Containers[i].VolumeMounts, out.Spec.Containers[i].VolumeMounts); err != nil {
			return nil, err
		}
	}
	if err := planInitContainers(&b, raw, in.Spec.InitContainers, out.Spec.InitContainers); err != nil {
		return nil, err
	}
	if err := planAffinity(&b, in.Spec.Affinity, out.Spec.Affinity); err != nil {
		return nil, err
	}
	return b.bytes()
}

// sameOutsidePlan reports whether out equals in everywhere but the places planPatch plans.
func sameOutsidePlan(in, out *corev1.Pod) bool {
	if len(out.Spec.Containers) != len(in.Spec.Containers) {
		return false
	}
	rest := *out
	rest.Annotations = in.Annotations
	rest.Spec.Volumes = in.Spec.Volumes
	rest.Spec.InitContainers = in.Spec.InitContainers
	rest.Spec.Affinity = in.Spec.Affinity
	rest.Spec.Containers = slices.Clone(out.Spec.Containers)
	for i := range rest.Spec.Containers {
		rest.Spec.Containers[i].VolumeMounts = in.Spec.Containers[i].VolumeMounts
	}
	return reflect.DeepEqual(&rest, in)
}

// planAnnotations sets and removes annotation keys one by one; a pod without annotations gets them
// whole, and a request without metadata gets the whole metadata.
func planAnnotations(b *patchBuilder, raw []byte, in, out *corev1.Pod) error {
	if in.Annotations == nil {
		if len(out.Annotations) == 0 {
			return nil
		}
		if metadataIsObject(raw, in) {
			return b.add("/metadata/annotations", out.Annotations)
		}
		return b.add("/metadata", out.ObjectMeta)
	}
	for _, k := range slices.Sorted(maps.Keys(out.Annotations)) {
		if v, ok := in.Annotations[k]; !ok || v != out.Annotations[k] {
			if err := b.add("/metadata/annotations/"+pointerEscape(k), out.Annotations[k]); err != nil {
				return err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.Annotations)) {
		if _, ok := out.Annotations[k]; !ok {
			if err := b.remove("/metadata/annotations/" + pointerEscape(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// metadataIsObject reports whether the request's metadata is a JSON object (not absent, not null).
// Any field decoded into in.ObjectMeta proves it; only a pod with an empty decoded metadata is
// looked up in the raw request.
func metadataIsObject(raw []byte, in *corev1.Pod) bool {
	if !reflect.ValueOf(in.ObjectMeta).IsZero() {
		return true
	}
	var top map[string]json.RawMessage
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &top); err != nil {
		return false
	}
	return bytes.HasPrefix(bytes.TrimSpace(top["metadata"]), []byte("{"))
}

// growOnly plans an array that Mutate only appends to: the elements the request had are unchanged.
func growOnly[T any](b *patchBuilder, path string, in, out []T) error {
	if len(out) < len(in) {
		return errUnplanned
	}
	for i := range in {
		if !reflect.DeepEqual(in[i], out[i]) {
			return errUnplanned
		}
	}
	return grow(b, path, in, out)
}

// grow adds out's elements beyond the request's len(in) to the array at path: the whole array in one
// add when the request had no element (the member absent, null or []), else each new element at its
// own index after the existing ones. It is the only way a plan patch grows an array, so no patch
// both creates an array and adds into it, or creates it twice (vault-k8s's add /spec/volumes after
// add /spec/volumes/-, which dropped the first volume).
func grow[T any](b *patchBuilder, path string, in, out []T) error {
	if len(out) == len(in) {
		return nil
	}
	if len(in) == 0 {
		return b.add(path, out)
	}
	for i := len(in); i < len(out); i++ {
		if err := b.add(path+"/"+strconv.Itoa(i), out[i]); err != nil {
			return err
		}
	}
	return nil
}

// planMounts plans a container's mounts: existing ones may get another volume name or subPath
// (patch.ensureMount), new ones are appended.
func planMounts(b *patchBuilder, path string, in, out []corev1.VolumeMount) error {
	if len(out) < len(in) {
		return errUnplanned
	}
	for i := range in {
		a, o := in[i], out[i]
		if reflect.DeepEqual(a, o) {
			continue
		}
		a.Name, a.SubPath = o.Name, o.SubPath
		if !reflect.DeepEqual(a, o) {
			return errUnplanned
		}
		at := path + "/" + strconv.Itoa(i)
		if in[i].Name != o.Name {
			// name is always present in the mutated pod's JSON (no omitempty): add sets or creates it.
			if err := b.add(at+"/name", o.Name); err != nil {
				return err
			}
		}
		if in[i].SubPath != o.SubPath {
			var err error
			if o.SubPath == "" {
				err = b.remove(at + "/subPath") // it was non-empty, so the request has it
			} else {
				err = b.add(at+"/subPath", o.SubPath)
			}
			if err != nil {
				return err
			}
		}
	}
	return grow(b, path, in, out)
}

// planInitContainers plans the init containers: ours appended, or an existing one of its name
// replaced. A replaced container is diffed against its own raw bytes, the library's way (what the
// request has there and our k8s.io/api does not know is kept), so only it costs a diff.
func planInitContainers(b *patchBuilder, raw []byte, in, out []corev1.Container) error {
	if len(out) < len(in) {
		return errUnplanned
	}
	var rawInits [][]byte
	for i := range in {
		if reflect.DeepEqual(in[i], out[i]) {
			continue
		}
		if rawInits == nil {
			var pod struct {
				Spec struct {
					InitContainers []json.RawMessage `json:"initContainers"`
				} `json:"spec"`
			}
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &pod); err != nil || len(pod.Spec.InitContainers) != len(in) {
				return errUnplanned
			}
			for _, c := range pod.Spec.InitContainers {
				rawInits = append(rawInits, c)
			}
		}
		if err := diffElement(b, "/spec/initContainers/"+strconv.Itoa(i), rawInits[i], in[i], out[i]); err != nil {
			return err
		}
	}
	return grow(b, "/spec/initContainers", in, out)
}

// diffElement adds the library's operations for one array element: rawElem, the element as the
// request has it, diffed against the new value, less the removals that only come from our
// k8s.io/api not knowing a field (controller-runtime's dropSchemeRemovals, on one element).
func diffElement(b *patchBuilder, at string, rawElem []byte, old, updated any) error {
	oldJSON, err := json.Marshal(old)
	if err != nil {
		return err
	}
	newJSON, err := json.Marshal(updated)
	if err != nil {
		return err
	}
	ops, err := jsonpatch.CreatePatch(rawElem, newJSON)
	if err != nil {
		return err
	}
	schemeOps, err := jsonpatch.CreatePatch(rawElem, oldJSON)
	if err != nil {
		return err
	}
	removedByScheme := map[string]bool{}
	for _, o := range schemeOps {
		if o.Operation == "remove" {
			removedByScheme[o.Path] = true
		}
	}
	for _, o := range ops {
		if o.Operation == "remove" && removedByScheme[o.Path] {
			continue
		}
		if err := b.op(o.Operation, at+o.Path, o.Value, o.Operation != "remove"); err != nil {
			return err
		}
	}
	return nil
}

// planAffinity plans patch.ensureCoLocated: the affinity, the pod affinity or its required term
// list, whichever is the first the request lacks, else the new term appended.
func planAffinity(b *patchBuilder, in, out *corev1.Affinity) error {
	switch {
	case reflect.DeepEqual(in, out):
		return nil
	case in == nil:
		return b.add("/spec/affinity", out)
	case out == nil || !reflect.DeepEqual(in.NodeAffinity, out.NodeAffinity) || !reflect.DeepEqual(in.PodAntiAffinity, out.PodAntiAffinity):
		return errUnplanned
	case in.PodAffinity == nil:
		return b.add("/spec/affinity/podAffinity", out.PodAffinity)
	case out.PodAffinity == nil || !reflect.DeepEqual(in.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, out.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution):
		return errUnplanned
	}
	return growOnly(b, "/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution",
		in.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, out.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointerEscape escapes a JSON object member name for a JSON pointer (RFC 6901): ~ as ~0, / as ~1.
func pointerEscape(s string) string { return pointerEscaper.Replace(s) }

// patchBuilder writes a JSON patch, in the order of the calls, whose operations touch disjoint parts
// of the document: no path is written twice, and none lies inside or around another operation's
// path (a value added whole is never added into, or overwritten, by a later operation), and no path
// ends in "-" (every element is added at its own index). So the vault-k8s failure (an array created,
// appended to, then created again) cannot be written.
type patchBuilder struct {
	paths []string
	buf   bytes.Buffer
}

func (b *patchBuilder) add(path string, value any) error { return b.op("add", path, value, true) }

func (b *patchBuilder) remove(path string) error { return b.op("remove", path, nil, false) }

func (b *patchBuilder) op(op, path string, value any, hasValue bool) error {
	if !strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/-") {
		return fmt.Errorf("plan patch: %s %q: not a path to a single place", op, path)
	}
	for _, q := range b.paths {
		if q == path || strings.HasPrefix(path, q+"/") || strings.HasPrefix(q, path+"/") {
			return fmt.Errorf("plan patch: %s %q overlaps the earlier operation on %q", op, path, q)
		}
	}
	b.paths = append(b.paths, path)
	if b.buf.Len() == 0 {
		b.buf.WriteByte('[')
	} else {
		b.buf.WriteByte(',')
	}
	b.buf.WriteString(`{"op":"`)
	b.buf.WriteString(op)
	b.buf.WriteString(`","path":`)
	p, err := json.Marshal(path)
	if err != nil {
		return err
	}
	b.buf.Write(p)
	if hasValue {
		b.buf.WriteString(`,"value":`)
		if err := appendValue(&b.buf, value); err != nil {
			return fmt.Errorf("plan patch: %s %q: %w", op, path, err)
		}
	}
	b.buf.WriteByte('}')
	return nil
}

// bytes is the patch, or nil when it has no operation.
func (b *patchBuilder) bytes() ([]byte, error) {
	if b.buf.Len() == 0 {
		return nil, nil
	}
	b.buf.WriteByte(']')
	return b.buf.Bytes(), nil
}

// appendValue writes value's JSON encoding to buf.
func appendValue(buf *bytes.Buffer, value any) error {
	j, err := json.Marshal(value)
	buf.Write(j)
	return err
}
