package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
)

// osmEdgeMeshConfig is osm-edge's MeshConfig as its chart writes it, with
// the interception mode and the local DNS proxy given.
func osmEdgeMeshConfig(mode string, dns bool) string {
	return fmt.Sprintf(`apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata:
  name: osm-mesh-config
  namespace: osm-system
spec:
  traffic:
    interceptionMode: %q
    enableEgress: true
  sidecar:
    localProxyMode: Localhost
    localDNSProxy:
      enable: %v
`, mode, dns)
}

// setMeshConfig applies a MeshConfig and waits until the node agent
// answers with its interception mode: the agent serves from a watch.
func (w *world) setMeshConfig(t *testing.T, mode string, dns bool) {
	t.Helper()
	w.cp.Apply(t, osmEdgeMeshConfig(mode, dns))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := agent.Dial(context.Background(), w.agent.Socket)
		if err != nil {
			t.Fatal(err)
		}
		mc, err := c.GetMeshConfig(context.Background(), "osm-system", "osm-mesh-config")
		c.Close()
		if err == nil && mc.Spec.Traffic.InterceptionMode == mode && mc.Spec.Sidecar.LocalDNSProxy.Enable == dns {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent still answers %+v, %v; want interceptionMode %q", mc, err, mode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// osmEdgePod is a pod shaped as osm-edge v1.3's injector makes it in none
// or ebpf mode: the osm-proxy-uuid label, a Pipy container named sidecar,
// no osm-init.
func (w *world) osmEdgePod(t *testing.T, name string) *sandbox {
	t.Helper()
	uid := w.pod(t, "test", name, "sidecar", nil)
	return w.newSandbox(t, "test", name, uid, "1.0.0", "")
}

// testOSMEdge drives the plugin with the default settings (profile auto)
// through osm-edge's interception modes and its local DNS proxy.
func (w *world) testOSMEdge(t *testing.T) {
	t.Cleanup(func() { w.cp.Kubectl(t, "delete", "meshconfig", "-n", "osm-system", "osm-mesh-config") })

	t.Run("none with the DNS proxy", func(t *testing.T) {
		w.setMeshConfig(t, "none", true)
		s := w.osmEdgePod(t, "edge-none")
		s.mustAdd(t)
		s.listen(t, 8080)
		if chains := s.meshChains(t); len(chains) != 4 || !strings.HasPrefix(chains[0], "OSM_PROXY_") {
			t.Errorf("chains %v, want osm-edge's four OSM_PROXY_ chains", chains)
		}
		s.wantLanding(t, w.to(w.serverIP, 9090), 0, "proxy-out "+w.to(w.serverIP, 9090).String())
		// A lookup to the resolver osm-edge's injector writes reaches the
		// sidecar's DNS listener.
		dns := netip.MustParseAddr("127.0.0.153")
		s.NS.ServeUDP(t, netip.AddrPortFrom(dns, 5300), "pipy-dns")
		if got, err := s.NS.ProbeUDP(netip.AddrPortFrom(dns, 53), 1000); err != nil || got != "pipy-dns" {
			t.Errorf("lookup to 127.0.0.153:53: %q, %v; want the sidecar's listener on :5300\n%s", got, err, s.natTables(t))
		}
		ev := w.event(t, "edge-none", "RedirectionConfigured")
		for _, want := range []string{"profile osm-v1 (auto: osm-edge", "\n-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300\n"} {
			if !strings.Contains(ev.Message, want) {
				t.Errorf("event lacks %q:\n%s", want, ev.Message)
			}
		}
		if !strings.Contains(w.pluginLog(), `profile_reason="auto: osm-edge`) {
			t.Errorf("the log line does not name the decision:\n%s", w.pluginLog())
		}
	})

	t.Run("ebpf", func(t *testing.T) {
		w.setMeshConfig(t, "ebpf", false)
		s := w.osmEdgePod(t, "edge-ebpf")
		s.mustAdd(t)
		if chains := s.meshChains(t); len(chains) != 0 {
			t.Errorf("ebpf mode: chains %v, want none (osm-edge's interceptor redirects)", chains)
		}
		s.wantLanding(t, w.to(w.serverIP, 9090), 0, direct(w.to(w.serverIP, 9090)))
		ev := w.event(t, "edge-ebpf", "RedirectionSkipped")
		if ev.Type != "Normal" || !strings.Contains(ev.Message, "interceptionMode is ebpf") {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("bad mode", func(t *testing.T) {
		w.setMeshConfig(t, "eBPF", false)
		s := w.osmEdgePod(t, "edge-bad")
		err := s.add()
		const want = `invalid interception mode "eBPF" in MeshConfig osm-system/osm-mesh-config`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("ADD error = %v, want %q", err, want)
		}
		if chains := s.meshChains(t); len(chains) != 0 {
			t.Errorf("failed ADD left chains %v", chains)
		}
		if ev := w.event(t, "edge-bad", "RedirectionFailed"); !strings.Contains(ev.Message, want) {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("explicit profile mismatch", func(t *testing.T) {
		w.setMeshConfig(t, "none", false)
		uid := w.pod(t, "test", "edge-v0", "sidecar", nil)
		s := w.newSandbox(t, "test", "edge-v0", uid, "1.0.0", `"profile": "osm-v0"`)
		s.mustAdd(t)
		if chains := s.meshChains(t); len(chains) != 4 || !strings.HasPrefix(chains[0], "PROXY_") {
			t.Errorf("chains %v, want the configured osm-v0's", chains)
		}
		ev := w.event(t, "edge-v0", "ProfileMismatch")
		if ev.Type != "Warning" || !strings.Contains(ev.Message, "which is profile osm-v1") {
			t.Errorf("event %+v", ev)
		}
	})
}
