package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/validate"
)

const repairNode = "node-a"

// repairCluster is a control plane with deploy/'s RBAC, a Repairer with
// the agent's token, and an admin client that plays kubelet.
type repairCluster struct {
	*deployedAgent
	admin *kube.Client
	ready bool
	rep   *Repairer
}

// testScope is the plugin's scope in these tests: namespace "excluded"
// is excluded, and envoy is the sidecar.
var testScope = Scope{ExcludeNamespaces: []string{"kube-system", "excluded"}, SidecarContainerNames: []string{"envoy"}}

func startRepair(t *testing.T, mode RepairMode) *repairCluster {
	t.Helper()
	d := startDeployedAgent(t)
	cfg, err := kube.LoadKubeconfig(d.cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc := &repairCluster{deployedAgent: d, admin: kube.NewClient(cfg), ready: true}
	rc.rep = &Repairer{API: d.api, Node: repairNode, Mode: mode, Ready: func() bool { return rc.ready }, Scope: testScope, Log: testLogger(t)}
	d.cp.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: excluded\n")
	return rc
}

// testPod is a pod as kubelet reports it.
type testPod struct {
	name, namespace, node string
	// owned: by a ReplicaSet. unmeshed: no sidecar. validated: it has
	// the validation container, which last exited with exit.
	owned, unmeshed, validated bool
	exit                       int
	// sandbox is when its sandbox became ready (zero: not ready), ip its
	// address.
	sandbox time.Time
	ip      string
}

// failed is an owned meshed pod of apps on repairNode whose validation
// exited 42.
func failed(name string) testPod {
	return testPod{name: name, owned: true, validated: true, exit: validate.NotRedirectedExitCode}
}

// create creates the pod and sets its status.
func (rc *repairCluster) create(t *testing.T, p testPod) {
	t.Helper()
	if p.namespace == "" {
		p.namespace = "apps"
	}
	if p.node == "" {
		p.node = repairNode
	}
	meta := map[string]any{"name": p.name, "labels": map[string]string{"app": "web", "osm-proxy-uuid": "7e9d-" + p.name}}
	if p.owned {
		meta["ownerReferences"] = []map[string]any{{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "6d1a3c52-0000-4000-8000-000000000001", "controller": true}}
	}
	containers := []map[string]string{{"name": "app", "image": "app"}}
	if !p.unmeshed {
		containers = append(containers, map[string]string{"name": "envoy", "image": "envoy"})
	}
	spec := map[string]any{"nodeName": p.node, "containers": containers}
	status := map[string]any{"phase": "Pending"}
	if p.validated {
		spec["initContainers"] = []map[string]string{{"name": validate.ContainerName, "image": "mesh-cni"}}
		status["initContainerStatuses"] = []map[string]any{{
			"name": validate.ContainerName, "image": "mesh-cni", "imageID": "", "ready": false, "restartCount": 1,
			"state":     map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff"}},
			"lastState": map[string]any{"terminated": map[string]any{"exitCode": p.exit, "reason": "Error"}},
		}}
	}
	if !p.sandbox.IsZero() {
		status["phase"] = "Running"
		status["conditions"] = []map[string]any{{"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": p.sandbox.UTC().Format(time.RFC3339)}}
	}
	if p.ip != "" {
		status["podIP"], status["podIPs"] = p.ip, []map[string]string{{"ip": p.ip}}
	}
	body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
	path := "/api/v1/namespaces/" + p.namespace + "/pods"
	if err := rc.admin.Create(context.Background(), path, json.RawMessage(body), nil); err != nil {
		t.Fatal(err)
	}
	if err := rc.admin.JSONPatch(context.Background(), path+"/"+p.name+"/status", []kube.PatchOp{{Op: "replace", Path: "/status", Value: status}}, nil); err != nil {
		t.Fatal(err)
	}
}

// get reads a pod of apps.
func (rc *repairCluster) get(t *testing.T, name string) (map[string]string, bool) {
	t.Helper()
	return rc.getIn(t, "apps", name)
}

// getIn reads a pod's labels, or nil and false when it is gone or being
// deleted: a pod bound to a node is deleted gracefully, and without a
// kubelet to finish the job it keeps its deletionTimestamp.
func (rc *repairCluster) getIn(t *testing.T, namespace, name string) (map[string]string, bool) {
	t.Helper()
	var p struct {
		Metadata struct {
			Labels            map[string]string
			DeletionTimestamp *string `json:"deletionTimestamp"`
		}
	}
	err := rc.admin.Get(context.Background(), "/api/v1/namespaces/"+namespace+"/pods/"+name, &p)
	if errors.Is(err, kube.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return p.Metadata.Labels, p.Metadata.DeletionTimestamp == nil
}

func (rc *repairCluster) once(t *testing.T) int {
	t.Helper()
	n, err := rc.rep.Once(context.Background())
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	return n
}

// events lists the type and reason of the events on a pod of namespace.
func (rc *repairCluster) events(t *testing.T, namespace, name string) string {
	t.Helper()
	var list struct {
		Items []struct {
			Reason, Type, Message string
			InvolvedObject        struct{ Name string } `json:"involvedObject"`
		}
	}
	if err := rc.admin.Get(context.Background(), "/api/v1/namespaces/"+namespace+"/events", &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e.Type+" "+e.Reason)
		}
	}
	return strings.Join(out, ",")
}

// state is a pod's fate after repair, for the tables: "deleted",
// "labelled" or "untouched".
func (rc *repairCluster) state(t *testing.T, namespace, name string) string {
	t.Helper()
	l, ok := rc.getIn(t, namespace, name)
	switch {
	case !ok:
		return "deleted"
	case l[UninitializedLabel] == "true":
		return "labelled"
	}
	return "untouched"
}

func TestRepairDeletes(t *testing.T) {
	rc := startRepair(t, RepairDelete)
	rc.create(t, failed("failed"))
	bare := failed("bare")
	bare.owned = false
	rc.create(t, bare)
	other := failed("other-code")
	other.exit = 1
	rc.create(t, other)
	elsewhere := failed("other-node")
	elsewhere.node = "node-b"
	rc.create(t, elsewhere)

	rc.ready = false
	if n := rc.once(t); n != 0 {
		t.Fatalf("repaired %d pods while the install is incomplete", n)
	}
	if _, ok := rc.get(t, "failed"); !ok {
		t.Fatal("the failed pod was deleted while the install is incomplete")
	}
	rc.ready = true
	if n := rc.once(t); n != 2 {
		t.Errorf("repaired %d pods, want 2 (failed deleted, bare labelled)", n)
	}
	for name, want := range map[string]string{"failed": "deleted", "bare": "labelled", "other-code": "untouched", "other-node": "untouched"} {
		if got := rc.state(t, "apps", name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if got := rc.events(t, "apps", "failed"); got != "Warning "+ReasonDeleted {
		t.Errorf("events on the deleted pod: %q", got)
	}
	if l, _ := rc.get(t, "bare"); l["app"] != "web" {
		t.Errorf("the bare pod's labels %v: want its own kept", l)
	}
	if got := rc.events(t, "apps", "bare"); got != "Warning "+ReasonLabelled {
		t.Errorf("events on the bare pod: %q", got)
	}
	// A labelled pod is not repaired again, nor evented again.
	if n := rc.once(t); n != 0 {
		t.Errorf("a second pass repaired %d pods", n)
	}
}

// The delete carries the listed resourceVersion: a pod changed since
// (here between the list and the delete) is not deleted.
func TestRepairPreconditions(t *testing.T) {
	rc := startRepair(t, RepairDelete)
	rc.create(t, failed("changing"))
	var list struct{ Items []repairPod }
	if err := rc.api.Get(context.Background(), "/api/v1/pods?fieldSelector=spec.nodeName%3D"+repairNode, &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("listing: %v, %d pods", err, len(list.Items))
	}
	if err := rc.admin.JSONPatch(context.Background(), "/api/v1/namespaces/apps/pods/changing", []kube.PatchOp{{Op: "add", Path: "/metadata/labels/touched", Value: "yes"}}, nil); err != nil {
		t.Fatal(err)
	}
	done, err := rc.rep.act(context.Background(), &list.Items[0], validationFailed)
	if err != nil || done {
		t.Fatalf("repair of a changed pod: %v, %v; want nothing done, no error", done, err)
	}
	if _, ok := rc.get(t, "changing"); !ok {
		t.Fatal("a pod whose resourceVersion changed was deleted")
	}
	if n := rc.once(t); n != 1 {
		t.Errorf("the next pass repaired %d pods, want 1", n)
	}
	if _, ok := rc.get(t, "changing"); ok {
		t.Error("the pod seen anew is still there")
	}
}

func TestRepairLabelMode(t *testing.T) {
	rc := startRepair(t, RepairLabel)
	rc.create(t, failed("owned"))
	if n := rc.once(t); n != 1 {
		t.Fatalf("repaired %d pods, want 1", n)
	}
	if got := rc.state(t, "apps", "owned"); got != "labelled" {
		t.Errorf("mode label: the pod is %s, want labelled", got)
	}
}

// A pod the plugin leaves alone whose validation failed (the webhook gave
// it a record, but its namespace is in excludeNamespaces, or it has no
// sidecar) would be made again without rules: it is labelled once, with
// an event saying why, and never deleted.
func TestRepairOutOfScope(t *testing.T) {
	rc := startRepair(t, RepairDelete)
	excluded := failed("excluded-ns")
	excluded.namespace = "excluded"
	rc.create(t, excluded)
	unmeshed := failed("no-sidecar")
	unmeshed.unmeshed = true
	rc.create(t, unmeshed)
	for pass := 1; pass <= 3; pass++ {
		n := rc.once(t)
		if want := map[bool]int{true: 2, false: 0}[pass == 1]; n != want {
			t.Errorf("pass %d repaired %d pods, want %d", pass, n, want)
		}
	}
	for _, p := range []testPod{excluded, unmeshed} {
		ns := map[bool]string{true: p.namespace, false: "apps"}[p.namespace != ""]
		if got := rc.state(t, ns, p.name); got != "labelled" {
			t.Errorf("%s: %s, want labelled, never deleted", p.name, got)
		}
		if got := rc.events(t, ns, p.name); got != "Warning "+ReasonOutOfScope {
			t.Errorf("%s: events %q, want one %s", p.name, got, ReasonOutOfScope)
		}
	}
}
