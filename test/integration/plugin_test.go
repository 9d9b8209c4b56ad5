package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// v0Default is the seed's osm-init line, which the Event must carry.
const v0Default = "iptables -t nat -N PROXY_INBOUND && iptables -t nat -N PROXY_IN_REDIRECT && iptables -t nat -N PROXY_OUTPUT && iptables -t nat -N PROXY_REDIRECT && iptables -t nat -A PROXY_REDIRECT -p tcp -j REDIRECT --to-port 15001 && iptables -t nat -A PROXY_REDIRECT -p tcp --dport 15000 -j ACCEPT && iptables -t nat -A OUTPUT -p tcp -j PROXY_OUTPUT && iptables -t nat -A PROXY_OUTPUT -m owner --uid-owner 1500 -j RETURN && iptables -t nat -A PROXY_OUTPUT -d 127.0.0.1/32 -j RETURN && iptables -t nat -A PROXY_OUTPUT -j PROXY_REDIRECT && iptables -t nat -A PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003 && iptables -t nat -A PREROUTING -p tcp -j PROXY_INBOUND && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15010 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15901 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15902 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15903 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp -j PROXY_IN_REDIRECT"

// Ports the server answers on, and ports the meshed pods' apps answer on.
var serverPorts = []uint16{8080, 6379, 7070, 9090}

// world is the shared setup of TestPlugin: the env and a server pod (in
// kube-system, so mesh-cni passes it through without an API call) with a
// second address that exclusions by IP range can name.
type world struct {
	*env
	server    *sandbox
	serverIP  netip.Addr
	serverIP2 netip.Addr
}

func (w *world) to(ip netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(ip, port) }

// direct is what the server answers when a connection reached it.
func direct(to netip.AddrPort) string { return "server " + to.String() }

func TestPlugin(t *testing.T) {
	e := newEnv(t, "10.226.0.0/24")
	w := &world{env: e}
	w.server = e.newSandbox(t, "kube-system", "server", "", "1.0.0", "")
	w.server.mustAdd(t)
	w.serverIP = w.server.IP
	w.serverIP2 = netip.MustParseAddr("10.226.0.200")
	w.server.NS.IP(t, "addr add "+w.serverIP2.String()+"/24 dev eth0")
	for _, p := range serverPorts {
		w.server.NS.Serve(t, netip.AddrPortFrom(netip.IPv4Unspecified(), p), "server")
	}
	if chains := w.server.meshChains(t); len(chains) != 0 {
		t.Fatalf("pod in kube-system got chains %v", chains)
	}

	t.Run("defaults", w.testDefaults)
	t.Run("MeshConfig", w.testMeshConfig)
	t.Run("ConfigMap", w.testConfigMap)
	t.Run("least privilege", w.testLeastPrivilege)
	t.Run("annotations", w.testAnnotations)
	t.Run("osm-v1 inclusions", w.testV1Inclusions)
	t.Run("osm-edge", w.testOSMEdge)
	t.Run("recorded osm-init command", w.testRecordedCommand)
	t.Run("out of scope", w.testOutOfScope)
	t.Run("bad annotation", w.testBadAnnotation)
	t.Run("prevResult unchanged", w.testPrevResultUnchanged)
	t.Run("status gc version", w.testStatusGCVersion)
	t.Run("extra config keys", w.testExtraKeys)
	t.Run("agent stopped", w.testAgentStopped)
	// Last: it stops and restarts the API server.
	t.Run("API stopped", w.testAPIStopped)
}

// meshedPod creates pod test/name with an envoy sidecar and the given
// annotations, runs ADD in a fresh netns and serves the proxy and app ports.
func (w *world) meshedPod(t *testing.T, name string, annotations map[string]string, settings string) *sandbox {
	t.Helper()
	uid := w.pod(t, "test", name, "envoy", annotations)
	s := w.newSandbox(t, "test", name, uid, "1.0.0", settings)
	s.mustAdd(t)
	s.listen(t, 8080, 9000, 15010)
	return s
}

func (w *world) testDefaults(t *testing.T) {
	w.resetLog()
	s := w.meshedPod(t, "web-1", nil, "")
	// Outbound: redirected to the proxy, which reads the real destination.
	to := w.to(w.serverIP, 8080)
	s.wantLanding(t, to, 0, "proxy-out "+to.String())
	// The proxy's own traffic (uid 1500) goes out as it is.
	s.wantLanding(t, to, rules.DefaultProxyUID, direct(to))
	// Inbound: redirected to 15003, except the proxy's own ports.
	w.server.wantLanding(t, w.to(s.IP, 8080), 0, "proxy-in "+w.to(s.IP, 8080).String())
	w.server.wantLanding(t, w.to(s.IP, 15010), 0, "app "+w.to(s.IP, 15010).String())

	ev := w.event(t, "web-1", "RedirectionConfigured")
	if ev.Type != "Normal" || ev.ReportingComponent != "mesh-cni" || ev.Source.Component != "mesh-cni" ||
		!strings.Contains(ev.Message, "profile osm-v0") || !strings.HasSuffix(ev.Message, "\n"+v0Default) {
		t.Errorf("event %+v", ev)
	}
	if out := w.cp.Kubectl(t, "describe", "pod", "-n", "test", "web-1"); !strings.Contains(out, "RedirectionConfigured") || !strings.Contains(out, "mesh-cni") {
		t.Errorf("kubectl describe pod does not show the event:\n%s", out)
	}
	if !strings.Contains(w.pluginLog(), "namespace=test pod=web-1") {
		t.Errorf("log lines do not name the pod:\n%s", w.pluginLog())
	}
	// On nf_tables, the first ADD compared mesh-cni's netlink writer with
	// iptables-nft-restore, recorded them equal beside the agent's socket,
	// and wrote over netlink.
	if strings.Contains(w.pluginLog(), "backend=nft") {
		if !strings.Contains(w.pluginLog(), "writer=netlink") {
			t.Errorf("a new pod's rules on nf_tables were not written over netlink:\n%s", w.pluginLog())
		}
		record, err := os.ReadFile(filepath.Join(filepath.Dir(w.agent.Socket), apply.WireRecord))
		if err != nil || !strings.HasSuffix(string(record), "\nequal\n") {
			t.Errorf("the comparison's record beside the agent's socket = %q, %v; want the writers found equal", record, err)
		}
	}

	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("CHECK right after ADD: %v", err)
	}
	w.testAddTwice(t, s)
	backend := "nft"
	if strings.Contains(w.pluginLog(), "backend=legacy") {
		backend = "legacy"
	}
	s.NS.Run(t, "iptables-"+backend, "-t", "nat", "-D", "PROXY_OUTPUT", "-m", "owner", "--uid-owner", "1500", "-j", "RETURN")
	err := s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "uid-owner 1500") {
		t.Fatalf("CHECK after deleting the uid rule = %v, want an error naming it", err)
	}
}

// testAddTwice runs mesh-cni's ADD again with the chain's result as its
// prevResult: the rules must stay exactly as they are, untouched.
func (w *world) testAddTwice(t *testing.T, s *sandbox) {
	before := s.natTables(t)
	w.resetLog()
	if err := s.AddMesh(context.Background()); err != nil {
		t.Fatalf("second ADD: %v", err)
	}
	if !strings.Contains(w.pluginLog(), "changed=false") {
		t.Errorf("second ADD rewrote the rules:\n%s", w.pluginLog())
	}
	// Rules, not packets: a stray packet on the bridge (neighbour discovery)
	// moves a legacy chain's policy counter between the two listings.
	if after := s.natTables(t); !slices.Equal(podcheck.NATLines(after), podcheck.NATLines(before)) {
		t.Errorf("second ADD changed the nat table:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func (w *world) testMeshConfig(t *testing.T) {
	w.cp.Apply(t, fmt.Sprintf(`apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata:
  name: osm-mesh-config
  namespace: osm-system
spec:
  traffic:
    outboundPortExclusionList: [6379]
    inboundPortExclusionList: [9000]
    outboundIPRangeExclusionList: ["%s/32"]
`, w.serverIP2))
	t.Cleanup(func() { w.cp.Kubectl(t, "delete", "meshconfig", "-n", "osm-system", "osm-mesh-config") })
	s := w.meshedPod(t, "web-mc", nil, "")
	s.wantLanding(t, w.to(w.serverIP, 6379), 0, direct(w.to(w.serverIP, 6379)))
	s.wantLanding(t, w.to(w.serverIP, 9090), 0, "proxy-out "+w.to(w.serverIP, 9090).String())
	s.wantLanding(t, w.to(w.serverIP2, 9090), 0, direct(w.to(w.serverIP2, 9090)))
	w.server.wantLanding(t, w.to(s.IP, 9000), 0, "app "+w.to(s.IP, 9000).String())
	w.server.wantLanding(t, w.to(s.IP, 8080), 0, "proxy-in "+w.to(s.IP, 8080).String())
	// Profile auto: a v1alpha2 MeshConfig is OSM v1.1+'s.
	if ev := w.event(t, "web-mc", "RedirectionConfigured"); !strings.Contains(ev.Message, "profile osm-v1 (auto: OSM v1.1+ or osm-edge (MeshConfig osm-system/osm-mesh-config is config.openservicemesh.io/v1alpha2); settings from MeshConfig osm-system/osm-mesh-config (config.openservicemesh.io/v1alpha2))") {
		t.Errorf("event does not name the decision and the MeshConfig: %s", ev.Message)
	}
}

func (w *world) testConfigMap(t *testing.T) {
	w.cp.Apply(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: osm-config
  namespace: osm-system
data:
  outbound_ip_range_exclusion_list: "%s/32, 2.2.2.2/24"
  outbound_port_exclusion_list: "6379, 7070"
`, w.serverIP2))
	t.Cleanup(func() { w.cp.Kubectl(t, "delete", "configmap", "-n", "osm-system", "osm-config") })
	s := w.meshedPod(t, "web-cm", map[string]string{"openservicemesh.io/outbound-port-exclusion-list": "8080"}, "")
	for _, p := range []uint16{6379, 7070, 8080} {
		s.wantLanding(t, w.to(w.serverIP, p), 0, direct(w.to(w.serverIP, p)))
	}
	s.wantLanding(t, w.to(w.serverIP, 9090), 0, "proxy-out "+w.to(w.serverIP, 9090).String())
	s.wantLanding(t, w.to(w.serverIP2, 9090), 0, direct(w.to(w.serverIP2, 9090)))
	ev := w.event(t, "web-cm", "RedirectionConfigured")
	// The seed's step 3 lines, from the ConfigMap and the annotation merged.
	for _, want := range []string{
		"ConfigMap osm-system/osm-config",
		"iptables -t nat -I PROXY_OUTPUT -d " + w.serverIP2.String() + "/32 -j RETURN && iptables -t nat -I PROXY_OUTPUT -d 2.2.2.2/24 -j RETURN",
		"iptables -t nat -I PROXY_OUTPUT -p tcp --match multiport --dports 6379,7070,8080 -j RETURN",
	} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("event lacks %q:\n%s", want, ev.Message)
		}
	}
}

func (w *world) testAnnotations(t *testing.T) {
	s := w.meshedPod(t, "web-ann", map[string]string{
		"openservicemesh.io/outbound-port-exclusion-list":     "7070",
		"openservicemesh.io/inbound-port-exclusion-list":      "9000",
		"openservicemesh.io/outbound-ip-range-exclusion-list": w.serverIP2.String() + "/32",
	}, "")
	s.wantLanding(t, w.to(w.serverIP, 7070), 0, direct(w.to(w.serverIP, 7070)))
	s.wantLanding(t, w.to(w.serverIP, 6379), 0, "proxy-out "+w.to(w.serverIP, 6379).String())
	s.wantLanding(t, w.to(w.serverIP2, 6379), 0, direct(w.to(w.serverIP2, 6379)))
	w.server.wantLanding(t, w.to(s.IP, 9000), 0, "app "+w.to(s.IP, 9000).String())
	w.server.wantLanding(t, w.to(s.IP, 8080), 0, "proxy-in "+w.to(s.IP, 8080).String())
}

func (w *world) testV1Inclusions(t *testing.T) {
	s := w.meshedPod(t, "web-v1", map[string]string{
		"openservicemesh.io/outbound-ip-range-inclusion-list": w.serverIP.String() + "/32",
	}, `"profile": "osm-v1"`)
	s.wantLanding(t, w.to(w.serverIP, 9090), 0, "proxy-out "+w.to(w.serverIP, 9090).String())
	s.wantLanding(t, w.to(w.serverIP2, 9090), 0, direct(w.to(w.serverIP2, 9090)))
	if chains := s.meshChains(t); len(chains) != 4 || !strings.HasPrefix(chains[0], "OSM_PROXY_") {
		t.Errorf("chains %v, want the four OSM_PROXY_ chains", chains)
	}
	if ev := w.event(t, "web-v1", "RedirectionConfigured"); !strings.Contains(ev.Message, "profile osm-v1") || !strings.Contains(ev.Message, "iptables-restore --noflush <<EOF") {
		t.Errorf("event %s", ev.Message)
	}
}

func (w *world) testOutOfScope(t *testing.T) {
	for _, tc := range []struct{ name, sidecar string }{{"no-sidecar", ""}, {"osm-edge", "sidecar"}} {
		uid := w.pod(t, "test", tc.name, tc.sidecar, nil)
		s := w.newSandbox(t, "test", tc.name, uid, "1.0.0", "")
		s.mustAdd(t)
		chains := s.meshChains(t)
		if tc.sidecar == "" && len(chains) != 0 {
			t.Errorf("pod without sidecar got chains %v", chains)
		}
		if tc.sidecar != "" && len(chains) != 4 {
			t.Errorf("osm-edge pod (sidecar container) got chains %v, want 4", chains)
		}
	}
	// An Envoy OSM did not inject (its own Contour ingress has containers
	// shutdown-manager and envoy, and no osm-proxy-uuid label) must keep
	// its traffic.
	uid := w.podOf(t, "test", "ingress-envoy", []string{"shutdown-manager", "envoy"}, map[string]string{"app": "osm-contour-envoy"}, nil)
	ingress := w.newSandbox(t, "test", "ingress-envoy", uid, "1.0.0", "")
	ingress.mustAdd(t)
	if chains := ingress.meshChains(t); len(chains) != 0 {
		t.Errorf("Envoy without the injector's label got chains %v", chains)
	}
	s := w.newSandbox(t, "test", "no-sidecar", "", "1.0.0", "")
	s.mustAdd(t)
	s.wantLanding(t, w.to(w.serverIP, 9090), 0, direct(w.to(w.serverIP, 9090)))
}

func (w *world) testBadAnnotation(t *testing.T) {
	uid := w.pod(t, "test", "web-bad", "envoy", map[string]string{"openservicemesh.io/outbound-port-exclusion-list": "8080, 70000"})
	s := w.newSandbox(t, "test", "web-bad", uid, "1.0.0", "")
	err := s.add()
	const want = `invalid port "70000" in annotation openservicemesh.io/outbound-port-exclusion-list on pod test/web-bad`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("ADD error = %v, want %q", err, want)
	}
	if chains := s.meshChains(t); len(chains) != 0 {
		t.Errorf("failed ADD left chains %v", chains)
	}
	ev := w.event(t, "web-bad", "RedirectionFailed")
	if ev.Type != "Warning" || !strings.Contains(ev.Message, want) {
		t.Errorf("event %+v", ev)
	}
}
