//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// The local DNS proxy as the pod sees it: the name meshapp's stand-in
// knows and its answer, the rule osm-edge's osm-init adds as the event
// renders it, and the same rule as iptables-save lists it.
const (
	dnsTestName  = "mesh.test"
	dnsTestAddr  = "192.0.2.53"
	dnsRuleEvent = "-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300"
	dnsRuleSaved = "-A OUTPUT -d 127.0.0.153/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.153:5300"
)

// testOSMEdge runs osm-edge-shaped pods (container sidecar, no osm-init)
// under osm-edge's MeshConfig in the modes its users set.
func (s *suite) testOSMEdge(t *testing.T) {
	s.ensureNamespace(t, nsMesh)
	s.installMeshConfigCRD(t)
	t.Cleanup(func() { s.meshConfigSpec(t, "") })
	t.Run("local DNS proxy", s.testLocalDNSProxy)
	t.Run("interceptionMode ebpf", s.testInterceptionEBPF)
}

// testLocalDNSProxy: with interceptionMode none and localDNSProxy on, the
// app's lookup through 127.0.0.153:53 reaches the sidecar's listener on
// 5300 and resolves; the pod's nat table has the DNS rule next to
// osm-edge's chains. A pod created after the proxy is turned off has the
// chains without the rule, and the same lookup fails.
func (s *suite) testLocalDNSProxy(t *testing.T) {
	a := s.ip[s.plainA.Name]
	s.meshConfigSpec(t, osmEdgeSpec("", true))
	on := pod{Name: "edge-dns-on", Namespace: nsApps, Sidecar: "sidecar", LocalDNSProxy: true}
	s.start(t, on)
	defer s.discard(t, on.Namespace, on.Name)
	ev := s.waitEvent(t, on, "RedirectionConfigured", 10*time.Second)
	for _, want := range []string{"profile osm-v1 (auto: osm-edge", "\n" + dnsRuleEvent + "\n"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("RedirectionConfigured event of %s lacks %q:\n%s", on.Name, want, ev.Message)
		}
	}
	if out, err := s.resolve(on); err != nil || strings.TrimSpace(out) != dnsTestAddr {
		t.Errorf("%s resolves %s to %q (%v), want %s from the sidecar's DNS listener", on.Name, dnsTestName, out, err, dnsTestAddr)
	} else {
		t.Logf("%s: %s -> %s through 127.0.0.153:53", on.Name, dnsTestName, strings.TrimSpace(out))
	}
	nat := s.podNAT(t, on)
	if !hasLine(nat, dnsRuleSaved) || !hasLine(nat, ":OSM_PROXY_OUTBOUND -") {
		t.Errorf("nat table of %s lacks the DNS rule or osm-edge's chains:\n%s", on.Name, strings.Join(nat, "\n"))
	}
	t.Logf("nat table of %s:\n%s", on.Name, strings.Join(nat, "\n"))
	// TCP goes through the sidecar as before.
	s.expectLanding(t, on, "app", a+":8080", landing{"sidecar-outbound", a + ":8080", on.Name})
	s.expectLanding(t, s.plainA, "app", s.podIP(t, on)+":8080", landing{"sidecar-inbound", s.podIP(t, on) + ":8080", on.Name})

	s.meshConfigSpec(t, osmEdgeSpec("", false))
	off := pod{Name: "edge-dns-off", Namespace: nsApps, Sidecar: "sidecar", LocalDNSProxy: true}
	s.start(t, off)
	defer s.discard(t, off.Namespace, off.Name)
	if ev := s.waitEvent(t, off, "RedirectionConfigured", 10*time.Second); strings.Contains(ev.Message, "127.0.0.153") {
		t.Errorf("RedirectionConfigured event of %s has the DNS rule with localDNSProxy off:\n%s", off.Name, ev.Message)
	}
	if out, err := s.resolve(off); err == nil {
		t.Errorf("%s resolved %s to %q without the DNS rule: nothing but the rule leads to the listener", off.Name, dnsTestName, out)
	} else {
		t.Logf("%s without the DNS rule: %v", off.Name, err)
	}
	nat = s.podNAT(t, off)
	if hasLine(nat, dnsRuleSaved) || !hasLine(nat, ":OSM_PROXY_OUTBOUND -") {
		t.Errorf("nat table of %s: want osm-edge's chains without the DNS rule:\n%s", off.Name, strings.Join(nat, "\n"))
	}
}

// testInterceptionEBPF: with interceptionMode ebpf, osm-edge's interceptor
// redirects, so a new pod gets no rules (its traffic reaches the peer's app,
// where a rule would have sent it to the sidecar) and a Normal
// RedirectionSkipped event saying why.
func (s *suite) testInterceptionEBPF(t *testing.T) {
	s.meshConfigSpec(t, `{traffic: {interceptionMode: ebpf, enableEgress: true}}`)
	p := pod{Name: "edge-ebpf", Namespace: nsApps, Sidecar: "sidecar"}
	s.start(t, p)
	defer s.discard(t, p.Namespace, p.Name)
	ev := s.waitEvent(t, p, "RedirectionSkipped", 10*time.Second)
	if ev.Type != "Normal" || ev.Source.Component != "mesh-cni" || !strings.Contains(ev.Message, "spec.traffic.interceptionMode is ebpf") {
		t.Errorf("RedirectionSkipped event: %+v", ev)
	}
	t.Logf("RedirectionSkipped: %s", ev.Message)
	if evs := s.events(t, p, "RedirectionConfigured"); len(evs) != 0 {
		t.Errorf("RedirectionConfigured event on a pod left to eBPF: %+v", evs)
	}
	// The pod's own netns (the host's nat table has kube-proxy's chains),
	// with nothing in it.
	if nat := s.podNAT(t, p); strings.Join(nat, "\n") != strings.Join(emptyNAT, "\n") {
		t.Errorf("nat table of %s is not empty:\n%s", p.Name, strings.Join(nat, "\n"))
	}
	a := s.ip[s.plainA.Name]
	s.expectLanding(t, p, "app", a+":8080", landing{"app", "8080", s.plainA.Name})
}

// emptyNAT is iptables-save's listing of a netns's nat table without rules.
var emptyNAT = []string{"*nat", ":PREROUTING ACCEPT", ":INPUT ACCEPT", ":OUTPUT ACCEPT", ":POSTROUTING ACCEPT", "COMMIT"}

// resolve runs `meshapp resolve` in the pod's app container: the lookup
// goes where the pod's /etc/resolv.conf (kubelet's, from dnsConfig) says.
func (s *suite) resolve(p pod) (string, error) {
	return s.kubectl("exec", "-n", p.Namespace, p.Name, "-c", "app", "--", "/meshapp", "resolve", dnsTestName)
}

// podNAT lists the nat table of the pod's netns, as iptables-save on the
// node prints it there, without its comment lines and chain counters: the
// rules the kernel holds, whoever wrote them. The netns is entered through a process of the
// pod's app container, found by the container's ID in its cgroup.
func (s *suite) podNAT(t *testing.T, p pod) []string {
	t.Helper()
	id, err := podcheck.AppContainerID(s.kubectlFunc, p.Namespace, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.shell(podcheck.NATScript(id), true)
	if err != nil {
		t.Fatalf("iptables-save in the netns of %s/%s: %v\n%s", p.Namespace, p.Name, err, out)
	}
	return podcheck.NATLines(out)
}

// hasLine says whether the listing holds this exact line.
func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
