// Package webhook is mesh-cni's mutating admission webhook for stock OSM:
// it takes OSM's privileged osm-init init container out of the pods OSM's
// injector made and records on the pod the script osm-init would have run,
// which the chained plugin then installs at sandbox creation. The pod then
// asks for no NET_ADMIN and passes Pod Security "baseline".
//
// For osm-edge's pods in interceptionMode none, which have no osm-init,
// it records the rules the plugin computes for them (EdgeRecorder).
//
// The logic here is pure but for the mesh settings an EdgeRecorder reads
// through the client it is given: an AdmissionReview request in, a JSON
// patch out. It never denies: whatever it does not expect, it allows
// unchanged and logs, and such a pod keeps osm-init, for which the plugin
// steps aside (or, without osm-init, gets its rules computed at ADD).
package webhook

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// What OSM's injector puts on a pod it injected.
const (
	// ProxyUUIDLabel is the label OSM's injector sets on every pod it injects.
	ProxyUUIDLabel = "osm-proxy-uuid"
	// InitContainerName is OSM's iptables init container.
	InitContainerName = "osm-init"
)

// CommandAnnotation holds the shell script osm-init would have run, exactly
// as OSM generated it, or for a pod injected without osm-init the script
// mesh-cni's model renders for it (meshsettings.Record). The webhook is
// its only writer; the plugin's parser accepts only what OSM's generator
// produces.
const CommandAnnotation = "mesh-cni.io/osm-init-command"

// SidecarNames are the proxy containers of OSM (Envoy) and osm-edge (Pipy).
var SidecarNames = []string{"envoy", "sidecar"}

// initCommand is osm-init's command; its script is the second argument.
var initCommand = []string{"/bin/sh"}

// RecordWithoutInit is the extension point for pods a mesh injects without
// osm-init because nothing of the mesh intercepts (osm-edge's
// interceptionMode none): given such a pod (injected, no osm-init, with or
// without a record), it returns the record the pod must carry in
// CommandAnnotation, rendered from the mesh settings by mesh-cni's rule
// model, and whether it must carry one: when not, a record already there
// is this webhook's own from a pass that removed osm-init, and stays. An
// error leaves the pod unchanged, and the plugin computes its rules at ADD.
type RecordWithoutInit func(pod *corev1.Pod) (script string, ok bool, err error)

// Mutator answers admission requests for pods.
type Mutator struct {
	// Log receives one line per pod changed and per request not understood.
	Log *slog.Logger
	// WithoutInit, when set, records pods injected without osm-init
	// (EdgeRecorder.Record); nil leaves such pods unchanged.
	WithoutInit RecordWithoutInit
	// Validator, when set, adds the validation init container to every
	// pod given a record; nil adds none.
	Validator *Validator
}

// Admit answers one request: always allowed, with a JSON patch when the
// pod is one of OSM's with osm-init, or one WithoutInit records.
func (m *Mutator) Admit(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	ops, done, err := m.patch(req)
	if err != nil {
		m.Log.Warn("admitting the pod unchanged", "namespace", req.Namespace, "name", podName(req), "uid", string(req.UID), "error", err.Error())
		return resp
	}
	if len(ops) == 0 {
		return resp
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		m.Log.Error("admitting the pod unchanged: encoding the patch", "namespace", req.Namespace, "name", podName(req), "error", err.Error())
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	m.Log.Info(done, "namespace", req.Namespace, "name", podName(req), "uid", string(req.UID))
	return resp
}

// What Admit logs for a pod it changed.
const (
	doneInit    = "took osm-init out of the pod and recorded its command"
	doneRecord  = "recorded on the pod the rules mesh-cni computes for it (no osm-init)"
	doneReplace = "replaced the pod's record with the rules mesh-cni computes for it (no osm-init)"
	// doneValidator is appended, or alone when only the container was
	// missing.
	doneValidator = "added the validation init container"
)

// Patch returns the JSON patch for req: empty for every pod that is not
// OSM's with osm-init (other kinds and operations too), and an error for a
// request it does not understand, which the caller admits unchanged.
func (m *Mutator) Patch(req *admissionv1.AdmissionRequest) ([]kube.PatchOp, error) {
	ops, _, err := m.patch(req)
	return ops, err
}

// patch is Patch, and what the patch does, for the log.
func (m *Mutator) patch(req *admissionv1.AdmissionRequest) ([]kube.PatchOp, string, error) {
	if req.Kind.Group != "" || req.Kind.Version != "v1" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return nil, "", fmt.Errorf("a request for %s %s, not a pod", req.Kind.String(), req.SubResource)
	}
	if req.Operation != admissionv1.Create {
		return nil, "", fmt.Errorf("a %s, not a CREATE", req.Operation)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, "", fmt.Errorf("decoding the pod: %w", err)
	}
	if !injected(&pod) {
		return nil, "", nil
	}
	i, script, err := findInit(&pod)
	if err != nil {
		return nil, "", err
	}
	if i < 0 {
		if pod.Namespace == "" {
			// At CREATE the object often leaves it to the request.
			pod.Namespace = req.Namespace
		}
		return m.withoutInit(&pod)
	}
	at := "/spec/initContainers/" + strconv.Itoa(i)
	ops := []kube.PatchOp{
		// The tests make the patch apply to exactly the container read.
		{Op: "test", Path: at + "/name", Value: InitContainerName},
		{Op: "test", Path: at + "/command", Value: initCommand},
		{Op: "remove", Path: at},
	}
	ops, done := m.withValidator(&pod, script, append(ops, annotate(&pod, script)), doneInit)
	return ops, done, nil
}

// withValidator appends to ops, the patch giving pod its record script,
// the validation container's, and says so in done. A pod the validator
// cannot check is logged and goes without: its record is what matters.
func (m *Mutator) withValidator(pod *corev1.Pod, script string, ops []kube.PatchOp, done string) ([]kube.PatchOp, string) {
	more, err := m.Validator.ops(pod, script)
	if err != nil {
		m.Log.Warn("admitting the pod without validation", "namespace", pod.Namespace, "name", pod.Name, "generate_name", pod.GenerateName, "error", err.Error())
	}
	switch {
	case len(more) == 0:
		return ops, done
	case done == "":
		return more, doneValidator
	}
	return append(ops, more...), done + "; " + doneValidator
}

// withoutInit asks the extension point about an injected pod without
// osm-init. A record that is already the one the pod must carry is a
// re-invocation (or a second pass): nothing to do. Any other record is
// replaced, so a pod's author cannot choose its rules by writing one.
func (m *Mutator) withoutInit(pod *corev1.Pod) ([]kube.PatchOp, string, error) {
	if m.WithoutInit == nil {
		return nil, "", nil
	}
	script, ok, err := m.WithoutInit(pod)
	if err != nil || !ok {
		return nil, "", err
	}
	var ops []kube.PatchOp
	var done string
	switch old, had := pod.Annotations[CommandAnnotation]; {
	case had && old == script:
	case had:
		ops, done = []kube.PatchOp{annotate(pod, script)}, doneReplace
	default:
		ops, done = []kube.PatchOp{annotate(pod, script)}, doneRecord
	}
	ops, done = m.withValidator(pod, script, ops, done)
	return ops, done, nil
}

// injected says whether OSM's (or osm-edge's) injector made the pod: its
// label and one of its sidecars.
func injected(pod *corev1.Pod) bool {
	if pod.Labels[ProxyUUIDLabel] == "" {
		return false
	}
	return slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return slices.Contains(SidecarNames, c.Name) })
}

// findInit returns osm-init's index and script, or -1 when the pod has
// none. An osm-init of another shape is an error: the webhook cannot say
// what it would have done, so the pod keeps it.
func findInit(pod *corev1.Pod) (int, string, error) {
	idx := -1
	for i, c := range pod.Spec.InitContainers {
		if c.Name != InitContainerName {
			continue
		}
		if idx >= 0 {
			return 0, "", fmt.Errorf("two init containers named %s", InitContainerName)
		}
		idx = i
	}
	if idx < 0 {
		return -1, "", nil
	}
	c := pod.Spec.InitContainers[idx]
	if !slices.Equal(c.Command, initCommand) || len(c.Args) != 2 || c.Args[0] != "-c" || !strings.HasPrefix(c.Args[1], "iptables") {
		return 0, "", fmt.Errorf("init container %s at index %d is not OSM's (command %q, %d args): want /bin/sh -c with an iptables script", InitContainerName, idx, c.Command, len(c.Args))
	}
	return idx, c.Args[1], nil
}

// annotate sets the record, creating the annotations when the pod has
// none. "add" replaces a value that is there: a record the pod came with
// gives way to what osm-init really held.
func annotate(pod *corev1.Pod, script string) kube.PatchOp {
	if pod.Annotations == nil {
		return kube.PatchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{CommandAnnotation: script}}
	}
	return kube.PatchOp{Op: "add", Path: "/metadata/annotations/" + escapePointer(CommandAnnotation), Value: script}
}

// escapePointer escapes a JSON pointer token (RFC 6901): "~" first.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// podName is the pod's name for logs: at CREATE it is often still empty,
// with only a generateName in the object.
func podName(req *admissionv1.AdmissionRequest) string {
	if req.Name != "" {
		return req.Name
	}
	var meta struct {
		Metadata struct {
			Name         string `json:"name"`
			GenerateName string `json:"generateName"`
		} `json:"metadata"`
	}
	json.Unmarshal(req.Object.Raw, &meta)
	if meta.Metadata.Name == "" && meta.Metadata.GenerateName != "" {
		return meta.Metadata.GenerateName + "*"
	}
	return meta.Metadata.Name
}
