package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mesh-cni/mesh-cni/pkg/webhook/webhooktest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the patches computed")

const forged = "iptables -t nat -F"

// goldenCases are the pods whose patches are kept in testdata/<name>.json.
var goldenCases = []struct {
	name string
	pod  func() *corev1.Pod
	// wantRemoved is osm-init's index, or -1 when the pod must come back
	// unchanged.
	wantRemoved int
}{
	{"injected", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
		p.Annotations = map[string]string{"openservicemesh.io/sidecar-injection": "enabled"}
		return p
	}, 0},
	// OSM's injector appends osm-init after the app's own init containers.
	{"injected-after-app-init-containers", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript, "migrate", "wait-for-db")
		p.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "app"}
		return p
	}, 2},
	{"not-injected", func() *corev1.Pod { return webhooktest.PlainPod("plain") }, -1},
	// reinvocationPolicy IfNeeded calls the webhook again after a later
	// webhook changed the pod: osm-init is gone and the record is there.
	{"re-invoked", func() *corev1.Pod { return patched(webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)) }, -1},
	{"forged-annotation-injected", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
		p.Annotations = map[string]string{CommandAnnotation: forged}
		return p
	}, 0},
	// Without osm-init the webhook cannot tell a record written by its own
	// first call (a re-invocation) from one the pod's author wrote, so it
	// keeps it. Forging gains nothing: the plugin installs only scripts its
	// parser reads as OSM's own generator's, and only on the author's pod.
	{"forged-annotation-without-osm-init", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
		p.Spec.InitContainers = nil
		p.Annotations = map[string]string{CommandAnnotation: forged}
		return p
	}, -1},
	{"no-annotations", func() *corev1.Pod { return webhooktest.OSMPod("bookstore", webhooktest.DefaultScript) }, 0},
}

func TestGoldenPatches(t *testing.T) {
	m := &Mutator{Log: slog.New(slog.DiscardHandler)}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod()
			req := createRequest(t, pod)
			resp := m.Admit(req)
			if !resp.Allowed || resp.UID != req.UID || resp.Result != nil {
				t.Fatalf("answer %+v, want allowed for UID %s", resp, req.UID)
			}
			if (resp.PatchType == nil) != (resp.Patch == nil) || resp.PatchType != nil && *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patch type %v with patch %q", resp.PatchType, resp.Patch)
			}
			var got bytes.Buffer
			if resp.Patch == nil {
				got.WriteString("[]")
			} else if err := json.Indent(&got, resp.Patch, "", "  "); err != nil {
				t.Fatalf("the patch is not JSON: %v", err)
			}
			got.WriteByte('\n')
			golden := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/webhook -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("patch differs from %s:\n%s", golden, got.Bytes())
			}
			after := applyPatch(t, pod, want)
			if tc.wantRemoved < 0 {
				if !reflect.DeepEqual(after, pod) {
					t.Errorf("the pod changed:\n%+v", after)
				}
				return
			}
			if !reflect.DeepEqual(after, patched(pod)) {
				t.Errorf("the patched pod is not the pod without osm-init and with the record:\n%+v", after)
			}
			if i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == InitContainerName }); i != tc.wantRemoved {
				t.Fatalf("osm-init is at %d in the input, the case says %d", i, tc.wantRemoved)
			}
			if !strings.HasPrefix(string(want), fmt.Sprintf("[\n  {\n    \"op\": \"test\",\n    \"path\": \"/spec/initContainers/%d/name\"", tc.wantRemoved)) {
				t.Errorf("the patch does not test the name at index %d first", tc.wantRemoved)
			}
			// A second pass over the result changes nothing.
			if again, err := m.Patch(createRequest(t, after)); err != nil || len(again) != 0 {
				t.Errorf("second pass = %+v, %v; want no patch", again, err)
			}
		})
	}
}

// patched is what the webhook must make of an injected pod: osm-init
// removed, its script in the annotation.
func patched(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	i := slices.IndexFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == InitContainerName })
	script := p.Spec.InitContainers[i].Args[1]
	p.Spec.InitContainers = slices.Delete(p.Spec.InitContainers, i, i+1)
	if len(p.Spec.InitContainers) == 0 {
		p.Spec.InitContainers = nil
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[CommandAnnotation] = script
	return p
}

// applyPatch applies patch to pod with the JSON patch library
// kube-apiserver applies webhooks' patches with.
func applyPatch(t *testing.T, pod *corev1.Pod, patch []byte) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decoding the patch: %v", err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("applying the patch: %v", err)
	}
	var after corev1.Pod
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	if len(after.Spec.InitContainers) == 0 {
		after.Spec.InitContainers = nil
	}
	return &after
}

func createRequest(t *testing.T, pod *corev1.Pod) *admissionv1.AdmissionRequest {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &admissionv1.AdmissionRequest{
		UID:       "4b2c7e0a-1111-2222-3333-444455556666",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "bookstore", Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: raw},
	}
}
