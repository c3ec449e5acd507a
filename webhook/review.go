package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Review sends a pod, as JSON, through the webhook the way the API server does on CREATE, and
// applies the returned patch the way the API server does. It returns the resulting pod's JSON (the
// input, unchanged, when the webhook allowed it without a patch) and the response. It is how the
// offline `mutate` command and the golden tests use exactly the webhook's code path.
func Review(ctx context.Context, wh *admission.Webhook, podJSON []byte) ([]byte, admission.Response, error) {
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(podJSON, &meta); err != nil {
		return nil, admission.Response{}, fmt.Errorf("reading the pod: %w", err)
	}
	if trimmed := bytes.TrimSpace(podJSON); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, admission.Response{}, errors.New("no pod: the input holds no object (is the file empty?)")
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("offline-review"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      meta.Metadata.Name,
		Namespace: meta.Metadata.Namespace,
		Operation: admissionv1.Create,
		UserInfo:  authenticationv1.UserInfo{Username: "offline"},
		Object:    runtime.RawExtension{Raw: podJSON},
	}}
	resp := wh.Handle(ctx, req)
	if !resp.Allowed {
		return nil, resp, nil
	}
	if len(resp.Patch) == 0 {
		return podJSON, resp, nil
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		return nil, resp, fmt.Errorf("the webhook returned a patch that is not JSON Patch: %w", err)
	}
	out, err := p.Apply(podJSON)
	if err != nil {
		return nil, resp, fmt.Errorf("the webhook's patch does not apply to the pod: %w", err)
	}
	return out, resp, nil
}
