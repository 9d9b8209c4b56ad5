package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
)

// TestLeavesUnexpectedAlone: whatever is not OSM's pod with OSM's
// osm-init is allowed unchanged, and what the webhook did not understand
// is logged with the reason.
func TestLeavesUnexpectedAlone(t *testing.T) {
	osm := func(edit func(p *corev1.Pod)) func(t *testing.T) *admissionv1.AdmissionRequest {
		return func(t *testing.T) *admissionv1.AdmissionRequest {
			p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
			edit(p)
			return createRequest(t, p)
		}
	}
	tests := []struct {
		name    string
		req     func(t *testing.T) *admissionv1.AdmissionRequest
		wantLog string // empty: unchanged without a warning
	}{
		{"label without a sidecar", osm(func(p *corev1.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }), ""},
		{"sidecar without the label", osm(func(p *corev1.Pod) { p.Labels = nil }), ""},
		{"injected, no osm-init, no record", osm(func(p *corev1.Pod) { p.Spec.InitContainers = nil }), ""},
		{"osm-init run by bash", osm(func(p *corev1.Pod) { p.Spec.InitContainers[0].Command = []string{"/bin/bash"} }), "is not OSM's"},
		{"osm-init without -c", osm(func(p *corev1.Pod) { p.Spec.InitContainers[0].Args[0] = "-e" }), "is not OSM's"},
		{"osm-init running no iptables", osm(func(p *corev1.Pod) { p.Spec.InitContainers[0].Args[1] = "sleep 1; iptables -L" }), "is not OSM's"},
		{"osm-init with a third argument", osm(func(p *corev1.Pod) { p.Spec.InitContainers[0].Args = append(p.Spec.InitContainers[0].Args, "x") }), "is not OSM's"},
		{"two osm-init", osm(func(p *corev1.Pod) { p.Spec.InitContainers = append(p.Spec.InitContainers, p.Spec.InitContainers[0]) }), "two init containers"},
		{"an UPDATE", func(t *testing.T) *admissionv1.AdmissionRequest {
			r := createRequest(t, webhooktest.OSMPod("bookstore", webhooktest.DefaultScript))
			r.Operation = admissionv1.Update
			return r
		}, "not a CREATE"},
		{"not a pod", func(t *testing.T) *admissionv1.AdmissionRequest {
			r := createRequest(t, webhooktest.OSMPod("bookstore", webhooktest.DefaultScript))
			r.Kind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
			return r
		}, "not a pod"},
		{"an undecodable pod", func(t *testing.T) *admissionv1.AdmissionRequest {
			r := createRequest(t, webhooktest.OSMPod("bookstore", webhooktest.DefaultScript))
			r.Object.Raw = []byte(`{"spec":{"initContainers":"osm-init"}}`)
			return r
		}, "decoding the pod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			m := &Mutator{Log: slog.New(slog.NewTextHandler(&logs, nil))}
			resp := m.Admit(tc.req(t))
			if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil {
				t.Errorf("answer %+v, want allowed without a patch", resp)
			}
			if tc.wantLog == "" && logs.Len() != 0 || tc.wantLog != "" && !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q, want a warning with %q", logs.String(), tc.wantLog)
			}
		})
	}
}

// TestOSMEdgeSidecar: osm-edge in its iptables mode adds the same osm-init
// beside its Pipy sidecar named "sidecar".
func TestOSMEdgeSidecar(t *testing.T) {
	p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
	p.Spec.Containers[1].Name = "sidecar"
	ops, err := (&Mutator{Log: slog.New(slog.DiscardHandler)}).Patch(createRequest(t, p))
	if err != nil || len(ops) != 4 || ops[2].Op != "remove" || ops[3].Value.(map[string]string)[CommandAnnotation] != webhooktest.DefaultScript {
		t.Errorf("Patch = %+v, %v", ops, err)
	}
}

// TestWithoutInitExtensionPoint: the hook is asked only about injected
// pods without osm-init; what it says they must carry is written unless
// they carry it already, a record it does not ask for stays, and its
// failure is the request's.
func TestWithoutInitExtensionPoint(t *testing.T) {
	const script = "iptables-restore --noflush <<EOF\nEOF\n"
	var asked []string
	m := &Mutator{Log: slog.New(slog.DiscardHandler), WithoutInit: func(p *corev1.Pod) (string, bool, error) {
		asked = append(asked, p.Name)
		if p.Name == "failing" {
			return "", false, errors.New("no MeshConfig today")
		}
		return script, !strings.HasPrefix(p.Name, "declined"), nil
	}}
	noInit := func(name string, ann map[string]string) *corev1.Pod {
		p := webhooktest.OSMPod(name, webhooktest.DefaultScript)
		p.Spec.InitContainers, p.Annotations = nil, ann
		return p
	}
	for _, tc := range []struct {
		pod     *corev1.Pod
		wantOps int
		wantErr bool
	}{
		{noInit("record-me", nil), 1, false},
		{noInit("declined", nil), 0, false},
		{noInit("declined-recorded", map[string]string{CommandAnnotation: "x"}), 0, false},
		{noInit("recorded-alike", map[string]string{CommandAnnotation: script}), 0, false},
		{noInit("recorded-otherwise", map[string]string{CommandAnnotation: "x"}), 1, false},
		{noInit("failing", nil), 0, true},
		{webhooktest.OSMPod("with-init", webhooktest.DefaultScript), 4, false},
		{webhooktest.PlainPod("plain"), 0, false},
	} {
		ops, err := m.Patch(createRequest(t, tc.pod))
		if len(ops) != tc.wantOps || (err != nil) != tc.wantErr || tc.wantOps == 1 && ops[0].Op != "add" {
			t.Errorf("%s: Patch = %+v, %v; want %d operations", tc.pod.Name, ops, err, tc.wantOps)
		}
	}
	if got := strings.Join(asked, " "); got != "record-me declined declined-recorded recorded-alike recorded-otherwise failing" {
		t.Errorf("the hook was asked about %s, want the pods without osm-init only", got)
	}
}

func TestHandler(t *testing.T) {
	var logs bytes.Buffer
	srv := httptest.NewServer(Handler(&Mutator{Log: slog.New(slog.NewTextHandler(&logs, nil))}))
	defer srv.Close()
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  createRequest(t, webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)),
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %s: %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	if answer.APIVersion != "admission.k8s.io/v1" || answer.Kind != "AdmissionReview" || answer.Response == nil ||
		answer.Response.UID != "4b2c7e0a-1111-2222-3333-444455556666" || !answer.Response.Allowed || !bytes.Contains(answer.Response.Patch, []byte(`"op":"remove"`)) {
		t.Errorf("answer %+v", answer)
	}
	if !strings.Contains(logs.String(), "took osm-init out") || !strings.Contains(logs.String(), "name=bookstore") {
		t.Errorf("log %q", logs.String())
	}

	for _, tc := range []struct {
		method, contentType, body string
		want                      int
	}{
		{"GET", "application/json", "", http.StatusMethodNotAllowed},
		{"POST", "text/plain", string(review), http.StatusUnsupportedMediaType},
		{"POST", "application/json", "{", http.StatusBadRequest},
		{"POST", "application/json", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`, http.StatusBadRequest},
		{"POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"POST", "application/json", `{"x":"` + strings.Repeat("a", maxReviewBytes) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %.40q: %d, want %d", tc.method, tc.contentType, tc.body, resp.StatusCode, tc.want)
		}
	}
}
