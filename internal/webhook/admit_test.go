package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the patches computed")

const forged = "iptables -t nat -F"

// edgeNoneMode is an osm-edge MeshConfig in interceptionMode none, with
// exclusions and PodIP mode, for the record rendered from the settings.
const edgeNoneMode = `{"traffic":{"interceptionMode":"none","outboundPortExclusionList":[6379],"outboundIPRangeExclusionList":["10.0.0.0/8"]},"sidecar":{"localProxyMode":"PodIP"}}`

// edgePod is osm-edge's pod with exclusion annotations of its own, and
// the annotations given.
func edgePod(extra map[string]string) *corev1.Pod {
	p := webhooktest.OSMEdgePod("bookstore")
	p.Annotations = map[string]string{
		"openservicemesh.io/outbound-port-exclusion-list":     "8080",
		"openservicemesh.io/outbound-ip-range-exclusion-list": "192.168.0.0/16",
	}
	maps.Copy(p.Annotations, extra)
	return p
}

// goldenCases are the pods whose patches are kept in testdata/<name>.json.
var goldenCases = []struct {
	name string
	pod  func() *corev1.Pod
	// mesh is the MeshConfig's spec the EdgeRecorder reads; "" for none.
	mesh string
	// wantRemoved is osm-init's index, or -1 when the pod must come back
	// unchanged, or -2 when it must come back with only the record the
	// mesh settings give.
	wantRemoved int
}{
	{"injected", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
		p.Annotations = map[string]string{"openservicemesh.io/sidecar-injection": "enabled"}
		return p
	}, "", 0},
	// OSM's injector appends osm-init after the app's own init containers.
	{"injected-after-app-init-containers", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript, "migrate", "wait-for-db")
		p.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "app"}
		return p
	}, "", 2},
	{"not-injected", func() *corev1.Pod { return webhooktest.PlainPod("plain") }, "", -1},
	// reinvocationPolicy IfNeeded calls the webhook again after a later
	// webhook changed the pod: osm-init is gone and the record is there.
	{"re-invoked", func() *corev1.Pod { return patched(webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)) }, "", -1},
	{"forged-annotation-injected", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
		p.Annotations = map[string]string{CommandAnnotation: forged}
		return p
	}, "", 0},
	// Without osm-init, in a mesh whose pods have osm-init (OSM, osm-edge
	// in iptables mode), the webhook cannot tell a record written by its
	// own first call (a re-invocation) from one the pod's author wrote, so
	// it keeps it. Forging gains nothing: the plugin installs only scripts
	// its parser reads as OSM's own generator's, and only on the author's
	// pod.
	{"forged-annotation-without-osm-init", func() *corev1.Pod {
		p := webhooktest.OSMPod("bookstore", webhooktest.DefaultScript)
		p.Spec.InitContainers = nil
		p.Annotations = map[string]string{CommandAnnotation: forged}
		return p
	}, "", -1},
	{"no-annotations", func() *corev1.Pod { return webhooktest.OSMPod("bookstore", webhooktest.DefaultScript) }, "", 0},
	// osm-edge in interceptionMode none: no osm-init, and the record is
	// what the plugin computes, the MeshConfig merged with the annotations.
	{"osm-edge-none-mode", func() *corev1.Pod { return edgePod(nil) }, edgeNoneMode, -2},
	// There, any record the pod came with gives way to the rendered one.
	{"osm-edge-none-mode-forged", func() *corev1.Pod { return edgePod(map[string]string{CommandAnnotation: forged}) }, edgeNoneMode, -2},
	// In ebpf mode osm-edge's interceptor redirects: no record.
	{"osm-edge-ebpf-mode", func() *corev1.Pod { return edgePod(nil) }, `{"traffic":{"interceptionMode":"ebpf"}}`, -1},
}

// edgeRecorder is an EdgeRecorder over a MeshConfig of this spec ("" for
// none, then the mesh has OSM's defaults).
func edgeRecorder(t *testing.T, spec string) *EdgeRecorder {
	f := &meshtest.Fake{}
	if spec != "" {
		f.MC = meshtest.MeshConfig(t, "v1alpha2", spec)
	}
	return &EdgeRecorder{API: f, MeshNamespace: "osm-system", MeshConfigName: "osm-mesh-config", Timeout: time.Minute}
}

func TestGoldenPatches(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			m := &Mutator{Log: slog.New(slog.DiscardHandler), WithoutInit: edgeRecorder(t, tc.mesh).Record}
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
				t.Fatalf("%v (run go test ./internal/webhook -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("patch differs from %s:\n%s", golden, got.Bytes())
			}
			after := applyPatch(t, pod, want)
			// A second pass over the result changes nothing.
			if again, err := m.Patch(createRequest(t, after)); err != nil || len(again) != 0 {
				t.Errorf("second pass = %+v, %v; want no patch", again, err)
			}
			switch tc.wantRemoved {
			case -1:
				if !reflect.DeepEqual(after, pod) {
					t.Errorf("the pod changed:\n%+v", after)
				}
				return
			case -2:
				checkRendered(t, pod, after)
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

// checkRendered: the patched pod is the pod with only the record changed,
// and the record holds edgeNoneMode's settings merged with edgePod's
// annotations as OSM's injector merged them (ports: the mesh's first; IP
// ranges: the pod's first), in PodIP mode with $POD_IP for the plugin.
func checkRendered(t *testing.T, pod, after *corev1.Pod) {
	t.Helper()
	record := after.Annotations[CommandAnnotation]
	want := pod.DeepCopy()
	want.Annotations[CommandAnnotation] = record
	if !reflect.DeepEqual(after, want) {
		t.Errorf("the patch changed more than the record:\n%+v", after)
	}
	cfg, err := rules.ParseOSMInit(record)
	if err != nil {
		t.Fatalf("the plugin refuses the record: %v\n%s", err, record)
	}
	got := fmt.Sprintf("%s %v %v %s", cfg.Profile, cfg.OutboundPortExclusions, cfg.OutboundIPRangeExclusions, cfg.LocalProxyMode)
	if got != "osm-v1 [6379 8080] [192.168.0.0/16 10.0.0.0/8] PodIP" || !strings.Contains(record, "--to-destination "+rules.PodIPPlaceholder) {
		t.Errorf("the record is %s:\n%s", got, record)
	}
}
