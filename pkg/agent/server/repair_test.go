package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/validate"
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

func startRepair(t *testing.T, mode RepairMode) *repairCluster {
	t.Helper()
	d := startDeployedAgent(t)
	cfg, err := kube.LoadKubeconfig(d.cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc := &repairCluster{deployedAgent: d, admin: kube.NewClient(cfg), ready: true}
	rc.rep = &Repairer{API: d.api, Node: repairNode, Mode: mode, Ready: func() bool { return rc.ready }, Log: testLogger(t)}
	d.cp.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n")
	return rc
}

// pod creates a pod on node, owned by a ReplicaSet when owned, whose
// validation container last terminated with exit, as kubelet reports it.
func (rc *repairCluster) pod(t *testing.T, name, node string, owned bool, exit int) {
	t.Helper()
	owner := ""
	if owned {
		owner = `"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"6d1a3c52-0000-4000-8000-000000000001","controller":true}],`
	}
	body := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `",` + owner + `"labels":{"app":"web"}},
"spec":{"nodeName":"` + node + `","initContainers":[{"name":"` + validate.ContainerName + `","image":"mesh-cni"}],"containers":[{"name":"app","image":"app"}]}}`
	if err := rc.admin.Create(context.Background(), "/api/v1/namespaces/apps/pods", json.RawMessage(body), nil); err != nil {
		t.Fatal(err)
	}
	status := map[string]any{"phase": "Pending", "initContainerStatuses": []map[string]any{{
		"name": validate.ContainerName, "image": "mesh-cni", "imageID": "", "ready": false, "restartCount": 1,
		"state":     map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff"}},
		"lastState": map[string]any{"terminated": map[string]any{"exitCode": exit, "reason": "Error"}},
	}}}
	if err := rc.admin.JSONPatch(context.Background(), "/api/v1/namespaces/apps/pods/"+name+"/status", []kube.PatchOp{{Op: "replace", Path: "/status", Value: status}}, nil); err != nil {
		t.Fatal(err)
	}
}

// get reads a pod's labels, or nil and false when it is gone or being
// deleted: a pod bound to a node is deleted gracefully, and without a
// kubelet to finish the job it keeps its deletionTimestamp.
func (rc *repairCluster) get(t *testing.T, name string) (map[string]string, bool) {
	t.Helper()
	var p struct {
		Metadata struct {
			Labels            map[string]string
			DeletionTimestamp *string `json:"deletionTimestamp"`
		}
	}
	err := rc.admin.Get(context.Background(), "/api/v1/namespaces/apps/pods/"+name, &p)
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

// events lists the reasons of the events on a pod.
func (rc *repairCluster) events(t *testing.T, name string) string {
	t.Helper()
	var list struct {
		Items []struct {
			Reason, Type, Message string
			InvolvedObject        struct{ Name string } `json:"involvedObject"`
		}
	}
	if err := rc.admin.Get(context.Background(), "/api/v1/namespaces/apps/events", &list); err != nil {
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

func TestRepairDeletes(t *testing.T) {
	rc := startRepair(t, RepairDelete)
	rc.pod(t, "failed", repairNode, true, validate.NotRedirectedExitCode)
	rc.pod(t, "bare", repairNode, false, validate.NotRedirectedExitCode)
	rc.pod(t, "other-code", repairNode, true, 1)
	rc.pod(t, "other-node", "node-b", true, validate.NotRedirectedExitCode)

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
	if _, ok := rc.get(t, "failed"); ok {
		t.Error("the failed pod with a controller is still there")
	}
	if got := rc.events(t, "failed"); got != "Warning "+ReasonDeleted {
		t.Errorf("events on the deleted pod: %q", got)
	}
	if l, ok := rc.get(t, "bare"); !ok || l[UninitializedLabel] != "true" || l["app"] != "web" {
		t.Errorf("the bare pod: present %v, labels %v; want it kept and labelled", ok, l)
	}
	if got := rc.events(t, "bare"); got != "Warning "+ReasonLabelled {
		t.Errorf("events on the bare pod: %q", got)
	}
	for _, name := range []string{"other-code", "other-node"} {
		if l, ok := rc.get(t, name); !ok || l[UninitializedLabel] != "" {
			t.Errorf("%s: present %v, labels %v; want it untouched", name, ok, l)
		}
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
	rc.pod(t, "changing", repairNode, true, validate.NotRedirectedExitCode)
	var list struct{ Items []repairPod }
	if err := rc.api.Get(context.Background(), "/api/v1/pods?fieldSelector=spec.nodeName%3D"+repairNode, &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("listing: %v, %d pods", err, len(list.Items))
	}
	if err := rc.admin.JSONPatch(context.Background(), "/api/v1/namespaces/apps/pods/changing", []kube.PatchOp{{Op: "add", Path: "/metadata/labels/touched", Value: "yes"}}, nil); err != nil {
		t.Fatal(err)
	}
	done, err := rc.rep.repair(context.Background(), &list.Items[0])
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
	rc.pod(t, "owned", repairNode, true, validate.NotRedirectedExitCode)
	if n := rc.once(t); n != 1 {
		t.Fatalf("repaired %d pods, want 1", n)
	}
	if l, ok := rc.get(t, "owned"); !ok || l[UninitializedLabel] != "true" {
		t.Errorf("mode label: present %v, labels %v; want it kept and labelled", ok, l)
	}
}
