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

// testAPIStopped: with the API server down, a meshed pod's ADD fails with
// "try again later" naming the pod, and a pod of an excluded namespace
// still starts.
func (w *world) testAPIStopped(t *testing.T) {
	w.testDown(t, "api-down", "reading pod test/web-api-down", func() { w.cp.Stop(t) }, func() { w.cp.Start(t) })
}

// testAgentStopped: with no agent answering, the same, the error naming
// the agent (the agent's own pods are in an excluded namespace).
func (w *world) testAgentStopped(t *testing.T) {
	w.testDown(t, "noagent", "the mesh-cni agent on this node", w.agent.Stop, w.agent.Resume)
}

// testDown stops something the plugin needs, ADDs a meshed pod and one of
// an excluded namespace, and starts it again: the meshed ADD must fail with
// code 11 and wantMsg and leave no chain, the other must succeed.
func (w *world) testDown(t *testing.T, suffix, wantMsg string, stop, restart func()) {
	uid := w.pod(t, "test", "web-"+suffix, "envoy", nil)
	meshed := w.newSandbox(t, "test", "web-"+suffix, uid, "1.0.0", "")
	excluded := w.newSandbox(t, "kube-system", "dns-"+suffix, "", "1.0.0", "")
	stop()
	defer restart()
	err := meshed.add()
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || cniErr.Code != types.ErrTryAgainLater || !strings.Contains(cniErr.Msg, wantMsg) {
		t.Errorf("ADD of a meshed pod = %#v, want code 11 with %q", err, wantMsg)
	}
	if chains := meshed.meshChains(t); len(chains) != 0 {
		t.Errorf("failed ADD left chains %v", chains)
	}
	if err := excluded.add(); err != nil {
		t.Errorf("ADD in an excluded namespace: %v", err)
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

// extraKeys are keys runtimes, libcni and tools put in a plugin's entry:
// the spec's capabilities, the keys it reserves for the runtime
// (runtimeConfig, args, cni.dev/...) and one no spec names.
const extraKeys = `"capabilities": {"portMappings": true}, "runtimeConfig": {"portMappings": []}, ` +
	`"args": {"cni": {"labels": [{"key": "app", "value": "web"}]}}, "cni.dev/someKey": true, "someRuntimeKey": {"x": 1}`

// testExtraKeys: with those keys in mesh-cni's entry, a meshed pod gets
// its rules and a kube-system pod starts as before, and each ADD warns
// once about the unknown key, naming it, and about nothing else.
func (w *world) testExtraKeys(t *testing.T) {
	for _, tc := range []struct {
		namespace, name string
		chains          int
	}{{"test", "web-extra", 4}, {"kube-system", "dns-extra", 0}} {
		uid := ""
		if tc.namespace == "test" {
			uid = w.pod(t, "test", tc.name, "envoy", nil)
		}
		s := w.newSandbox(t, tc.namespace, tc.name, uid, "1.0.0", extraKeys)
		w.resetLog()
		s.mustAdd(t)
		if chains := s.meshChains(t); len(chains) != tc.chains {
			t.Errorf("pod %s/%s got chains %v, want %d", tc.namespace, tc.name, chains, tc.chains)
		}
		var warnings []string
		for _, line := range strings.Split(w.pluginLog(), "\n") {
			if strings.Contains(line, "level=WARN") {
				warnings = append(warnings, line)
			}
		}
		if len(warnings) != 1 || !strings.HasSuffix(warnings[0], " pod="+tc.name+" keys=someRuntimeKey") {
			t.Errorf("ADD of %s/%s logged warnings %q, want one naming someRuntimeKey alone", tc.namespace, tc.name, warnings)
		}
	}
}
