package install

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// TestUntaint removes the taint under deploy/'s RBAC with the agent's
// token from a real kube-apiserver's node: only when ready, only that
// taint, only from the installer's own node.
func TestUntaint(t *testing.T) {
	cp := cluster.StartControlPlane(t)
	cp.ApplyDeployRBAC(t)
	cfg, err := kube.LoadKubeconfig(cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni"))
	if err != nil {
		t.Fatal(err)
	}
	adminCfg, err := kube.LoadKubeconfig(cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin := kube.NewClient(adminCfg)
	for _, name := range []string{"node-a", "node-b"} {
		node := `{"apiVersion":"v1","kind":"Node","metadata":{"name":"` + name + `"},"spec":{"taints":[
{"key":"dedicated","value":"mesh","effect":"NoSchedule"},{"key":"` + NotReadyTaint + `","value":"true","effect":"NoSchedule"}]}}`
		if err := admin.Create(context.Background(), "/api/v1/nodes", json.RawMessage(node), nil); err != nil {
			t.Fatal(err)
		}
	}
	taints := func(name string) string {
		var n struct {
			Spec struct{ Taints []struct{ Key string } }
		}
		if err := admin.Get(context.Background(), "/api/v1/nodes/"+name, &n); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, k := range n.Spec.Taints {
			// Admission adds node.kubernetes.io/not-ready to a new node.
			if !strings.HasPrefix(k.Key, "node.kubernetes.io/") {
				keys = append(keys, k.Key)
			}
		}
		return strings.Join(keys, " ")
	}
	ready := false
	u := &untainter{api: kube.NewClient(cfg), node: "node-a", ready: func() bool { return ready }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if removed, err := u.once(context.Background()); err != nil || removed {
		t.Fatalf("not ready: removed %v, %v", removed, err)
	}
	if got := taints("node-a"); got != "dedicated "+NotReadyTaint {
		t.Fatalf("taints before ready: %s", got)
	}
	ready = true
	if removed, err := u.once(context.Background()); err != nil || !removed {
		t.Fatalf("ready: removed %v, %v", removed, err)
	}
	if got := taints("node-a"); got != "dedicated" {
		t.Errorf("taints of node-a after ready: %q, want dedicated only", got)
	}
	if got := taints("node-b"); got != "dedicated "+NotReadyTaint {
		t.Errorf("another node's taints changed: %q", got)
	}
	if removed, err := u.once(context.Background()); err != nil || removed {
		t.Errorf("a second check: removed %v, %v; want nothing to do", removed, err)
	}
	// `installer agent` beside a machine that is no node: no error.
	u.node = "no-such-node"
	if removed, err := u.once(context.Background()); err != nil || removed {
		t.Errorf("a node that does not exist: removed %v, %v; want nothing to do, no error", removed, err)
	}
}
