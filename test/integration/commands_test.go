package integration

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func (w *world) testPrevResultUnchanged(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			name := "web-v" + strings.ReplaceAll(v, ".", "")
			uid := w.pod(t, "test", name, "envoy", nil)
			s := w.newSandbox(t, "test", name, uid, v, "")
			// The bridge alone gives what mesh-cni receives as prevResult.
			if err := s.Add(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			prev := s.Result
			if err := s.AddMesh(context.Background()); err != nil {
				t.Fatalf("ADD: %v\n%s", err, w.pluginLog())
			}
			got := s.Result
			a, _ := json.Marshal(prev)
			b, _ := json.Marshal(got)
			if string(a) != string(b) || got.Version() != v {
				t.Errorf("result differs from prevResult at %s:\nprev %s\n got %s (version %s)", v, a, b, got.Version())
			}
			if len(s.meshChains(t)) != 4 {
				t.Errorf("no rules at version %s", v)
			}
		})
	}
}

func (w *world) testStatusGCVersion(t *testing.T) {
	ctx := context.Background()
	n := w.chain(t, "1.1.0", "")
	list := n.Chain(true)
	if err := n.CNI().GetStatusNetworkList(ctx, list); err != nil {
		t.Errorf("STATUS with the agent serving: %v", err)
	}
	if err := n.CNI().GCNetworkList(ctx, list, &libcni.GCArgs{}); err != nil {
		t.Errorf("GC: %v", err)
	}
	missing, err := libcni.ConfListFromBytes([]byte(strings.Replace(string(list.Bytes), w.agent.Socket, "/nonexistent/agent.sock", 1)))
	if err != nil {
		t.Fatal(err)
	}
	err = n.CNI().GetStatusNetworkList(ctx, missing)
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || cniErr.Code != types.ErrPluginNotAvailable || !strings.Contains(cniErr.Msg, "/nonexistent/agent.sock") {
		t.Errorf("STATUS without an agent = %#v, want code 50 naming the socket", err)
	}
	info, err := n.CNI().GetVersionInfo(ctx, "mesh-cni")
	if err != nil || strings.Join(info.SupportedVersions(), ",") != "0.3.1,0.4.0,1.0.0,1.1.0" {
		t.Errorf("VERSION = %v, %v", info, err)
	}
}

func (w *world) testAPIStopped(t *testing.T) {
	uid := w.pod(t, "test", "web-down", "envoy", nil)
	meshed := w.newSandbox(t, "test", "web-down", uid, "1.0.0", "")
	excluded := w.newSandbox(t, "kube-system", "dns-down", "", "1.0.0", "")
	w.cp.Stop(t)
	defer w.cp.Start(t)
	err := meshed.add()
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || cniErr.Code != types.ErrTryAgainLater || !strings.Contains(cniErr.Msg, "reading pod test/web-down") {
		t.Errorf("ADD of a meshed pod with the API down = %#v, want code 11 naming the pod", err)
	}
	if chains := meshed.meshChains(t); len(chains) != 0 {
		t.Errorf("failed ADD left chains %v", chains)
	}
	if err := excluded.add(); err != nil {
		t.Errorf("ADD in an excluded namespace with the API down: %v", err)
	}
}

// testAgentStopped: with no agent answering, a meshed pod's ADD fails with
// "try again later" naming the agent and leaves no rules, and a pod of an
// excluded namespace still starts (the agent's own pods are such pods).
func (w *world) testAgentStopped(t *testing.T) {
	uid := w.pod(t, "test", "web-noagent", "envoy", nil)
	meshed := w.newSandbox(t, "test", "web-noagent", uid, "1.0.0", "")
	excluded := w.newSandbox(t, "kube-system", "dns-noagent", "", "1.0.0", "")
	w.agent.Stop()
	defer w.agent.Resume()
	err := meshed.add()
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || cniErr.Code != types.ErrTryAgainLater || !strings.Contains(cniErr.Msg, "the mesh-cni agent on this node") {
		t.Errorf("ADD of a meshed pod with no agent = %#v, want code 11 naming the agent", err)
	}
	if chains := meshed.meshChains(t); len(chains) != 0 {
		t.Errorf("failed ADD left chains %v", chains)
	}
	if err := excluded.add(); err != nil {
		t.Errorf("ADD in an excluded namespace with no agent: %v", err)
	}
}

// event is the part of a core/v1 Event the tests look at.
type event struct {
	Type               string `json:"type"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	ReportingComponent string `json:"reportingComponent"`
	Source             struct {
		Component string `json:"component"`
	} `json:"source"`
}

// event returns the newest event with reason on pod test/name.
func (w *world) event(t *testing.T, name, reason string) event {
	t.Helper()
	out := w.cp.Kubectl(t, "get", "events", "-n", "test", "--field-selector", "involvedObject.name="+name+",reason="+reason, "-o", "json")
	var list struct {
		Items []event `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) == 0 {
		t.Fatalf("no %s event on pod test/%s", reason, name)
	}
	return list.Items[len(list.Items)-1]
}
