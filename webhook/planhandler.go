package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// ParsePatchMode reads the --patch flag.
func ParsePatchMode(s string) (PatchMode, error) {
	switch m := PatchMode(s); m {
	case PatchPlan, PatchDiff:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a patch mode: want %s or %s", s, PatchPlan, PatchDiff)
}

// planHandler answers like controller-runtime's typed defaulter (the same decoding, the same
// answers to refusals), with the patch built by planPatch. What the plan does not cover is answered
// by library, the defaulter itself.
type planHandler struct {
	mutator *PodMutator
	decoder admission.Decoder
	library admission.Handler
}

var jsonPatchType = admissionv1.PatchTypeJSONPatch

func (h *planHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation == admissionv1.Delete {
		return h.library.Handle(ctx, req)
	}
	libraryCtx := ctx
	ctx = admission.NewContextWithRequest(ctx, req)
	var pod corev1.Pod
	if !decodePod(req.Object.Raw, &pod) {
		pod = corev1.Pod{}
		if err := h.decoder.Decode(req, &pod); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	out, err := h.mutator.mutate(ctx, &pod)
	if err != nil {
		var apiStatus apierrors.APIStatus
		if errors.As(err, &apiStatus) {
			status := apiStatus.Status()
			return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
		}
		return admission.Denied(err.Error())
	}
	if out == nil {
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true}}
	}
	p, err := planPatch(req.Object.Raw, &pod, out)
	if err != nil {
		logr.FromContextOrDiscard(ctx).Info("the plan patch does not cover this mutation; answering with the library's diff", "reason", err.Error())
		planFallbacks.Inc()
		return h.library.Handle(libraryCtx, req)
	}
	if p == nil {
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true}}
	}
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, PatchType: &jsonPatchType, Patch: p}}
}

// decodePod decodes raw into pod as controller-runtime's decoder does (its JSON serializer, not
// strict, unmarshals with sigs.k8s.io/json exactly so), without the serializer's first pass over the
// whole object to find apiVersion and kind: a third of decoding a pod. It answers false, and the
// library decoder then decides, unless raw is a JSON object that decodes without error and names
// itself a v1 Pod, as every API server's request does. (Only an object that names its kind twice,
// once in another letter case, could tell the two apart.)
func decodePod(raw []byte, pod *corev1.Pod) bool {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return false
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, pod); err != nil {
		return false
	}
	return pod.APIVersion == "v1" && pod.Kind == "Pod"
}
