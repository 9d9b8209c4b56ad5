package apply

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/netns"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// The traffic tests' addresses, assigned by the test to veths between
// namespaces it made; nothing else is reachable (no default route).
var (
	podA   = netip.MustParseAddr("10.213.1.1") // pod, link to peer1
	peer1  = netip.MustParseAddr("10.213.1.2")
	podB   = netip.MustParseAddr("10.213.2.1") // pod, link to peer2
	peer2  = netip.MustParseAddr("10.213.2.2")
	podA6  = netip.MustParseAddr("fd00:213:1::1")
	peer16 = netip.MustParseAddr("fd00:213:1::2")
	podB6  = netip.MustParseAddr("fd00:213:2::1")
	peer26 = netip.MustParseAddr("fd00:213:2::2")
)

// Ports of the traffic tests' listeners.
const (
	appPort          = 8080 // the app's port: inbound goes to the proxy
	inboundExcluded  = 8081 // in InboundPortExclusions
	outboundExcluded = 6379 // in OutboundPortExclusions
	peerPort         = 80
)

// trafficPod is a pod namespace linked to two peers, with listeners that
// answer with their name and the original destination.
type trafficPod struct {
	*testPod
	peer1, peer2 *netns.NS
}

func newTrafficPod(t *testing.T) *trafficPod {
	t.Helper()
	p := &trafficPod{testPod: newPod(t), peer1: netns.New(t), peer2: netns.New(t)}
	pfx := func(a netip.Addr, bits int) netip.Prefix { return netip.PrefixFrom(a, bits) }
	netns.Link(t, p.NS, "eth0", []netip.Prefix{pfx(podA, 24), pfx(podA6, 64)}, p.peer1, "eth0", []netip.Prefix{pfx(peer1, 24), pfx(peer16, 64)})
	netns.Link(t, p.NS, "eth1", []netip.Prefix{pfx(podB, 24), pfx(podB6, 64)}, p.peer2, "eth0", []netip.Prefix{pfx(peer2, 24), pfx(peer26, 64)})
	any4, any6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	for _, a := range []netip.Addr{any4, any6} {
		p.Serve(t, netip.AddrPortFrom(a, rules.DefaultOutboundPort), "proxy-out")
		p.Serve(t, netip.AddrPortFrom(a, rules.DefaultInboundPort), "proxy-in")
		for _, port := range []uint16{appPort, inboundExcluded, 15010, 15901, 15902, 15903, 15904} {
			p.Serve(t, netip.AddrPortFrom(a, port), "app")
		}
		for _, port := range []uint16{peerPort, outboundExcluded} {
			p.peer1.Serve(t, netip.AddrPortFrom(a, port), "peer1")
			p.peer2.Serve(t, netip.AddrPortFrom(a, port), "peer2")
		}
	}
	return p
}

// refused as a probe's want: nothing listens where the connection goes.
const refused = "refused"

// probe is one connection and where it must land: "<listener> <original
// destination>".
type probe struct {
	name string
	from *netns.NS
	to   netip.AddrPort
	uid  int
	want string
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func (p *trafficPod) check(t *testing.T, probes []probe) {
	t.Helper()
	for _, pr := range probes {
		got, err := pr.from.Probe(pr.to, pr.uid)
		if pr.want == refused {
			if err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("%s: %s -> %s as uid %d: %q, %v; want the connection refused", pr.name, pr.from.Name, pr.to, pr.uid, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", pr.name, err)
			continue
		}
		if got != pr.want {
			t.Errorf("%s: %s -> %s as uid %d landed on %q, want %q", pr.name, pr.from.Name, pr.to, pr.uid, got, pr.want)
		}
	}
}

// trafficConfig excludes peer2 (both families), one outbound and one
// inbound port.
func trafficConfig(p rules.Profile) rules.Config {
	c := rules.DefaultConfig(p)
	c.OutboundIPRangeExclusions = []string{peer2.String() + "/32", peer26.String() + "/128"}
	c.OutboundPortExclusions = []uint16{outboundExcluded}
	c.InboundPortExclusions = []uint16{inboundExcluded}
	return c
}

// TestTrafficLandsWhereOSMSends applies each profile with each backend in
// a pod namespace and makes real TCP connections: the app's outbound
// connections land on the proxy's 15001 (which reads the original
// destination), the proxy's own (uid 1500) and excluded ones reach the
// peer, inbound ones land on 15003 except the excluded ports.
func TestTrafficLandsWhereOSMSends(t *testing.T) {
	requireIptables(t)
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		for _, prof := range rules.Profiles {
			t.Run(fmt.Sprintf("%s/%s", b, prof), func(t *testing.T) {
				t.Parallel()
				p := newTrafficPod(t)
				res := p.mustApply(t, buildSets(t, trafficConfig(prof)), b)
				if res.Backend != b || !res.Changed {
					t.Errorf("Apply = %+v, want backend %s, changed", res, b)
				}
				p.check(t, trafficProbes(p, prof))
			})
		}
	}
}

func trafficProbes(p *trafficPod, prof rules.Profile) []probe {
	pod := p.NS
	probes := []probe{
		{"app to peer1: to the proxy", pod, ap(peer1, peerPort), 0, "proxy-out 10.213.1.2:80"},
		{"proxy (uid 1500) to peer1: direct", pod, ap(peer1, peerPort), rules.DefaultProxyUID, "peer1 10.213.1.2:80"},
		{"app to excluded peer2/32: direct", pod, ap(peer2, peerPort), 0, "peer2 10.213.2.2:80"},
		{"app to excluded port: direct", pod, ap(peer1, outboundExcluded), 0, "peer1 10.213.1.2:6379"},
		{"app to loopback: direct", pod, ap(netip.MustParseAddr("127.0.0.1"), appPort), 0, "app 127.0.0.1:8080"},
		{"peer1 to app port: to the inbound proxy", p.peer1, ap(podA, appPort), 0, "proxy-in 10.213.1.1:8080"},
		{"peer2 to app port on eth1: to the inbound proxy", p.peer2, ap(podB, appPort), 0, "proxy-in 10.213.2.1:8080"},
		{"peer1 to excluded inbound port: to the app", p.peer1, ap(podA, inboundExcluded), 0, "app 10.213.1.1:8081"},
		{"IPv6 app to peer1: to the proxy", pod, ap(peer16, peerPort), 0, "proxy-out [fd00:213:1::2]:80"},
		{"IPv6 proxy to peer1: direct", pod, ap(peer16, peerPort), rules.DefaultProxyUID, "peer1 [fd00:213:1::2]:80"},
		{"IPv6 app to excluded peer2/128: direct", pod, ap(peer26, peerPort), 0, "peer2 [fd00:213:2::2]:80"},
		{"IPv6 peer1 to app port: to the inbound proxy", p.peer1, ap(podA6, appPort), 0, "proxy-in [fd00:213:1::1]:8080"},
		{"IPv6 peer1 to excluded inbound port: to the app", p.peer1, ap(podA6, inboundExcluded), 0, "app [fd00:213:1::1]:8081"},
	}
	for _, port := range []uint16{15010, 15901, 15902, 15903} {
		probes = append(probes, probe{fmt.Sprintf("peer1 to %d: to the app", port), p.peer1, ap(podA, port), 0, fmt.Sprintf("app 10.213.1.1:%d", port)})
	}
	if prof == rules.ProfileOSMv1 {
		probes = append(probes, probe{"peer1 to 15904 (v1.1+): to the app", p.peer1, ap(podA, 15904), 0, "app 10.213.1.1:15904"})
	} else {
		probes = append(probes, probe{"peer1 to 15904 (before v1.1): to the inbound proxy", p.peer1, ap(podA, 15904), 0, "proxy-in 10.213.1.1:15904"})
	}
	if prof == rules.ProfileOSMv0 {
		return append(probes,
			probe{"proxy to the pod IP (v0): direct", pod, ap(podA, appPort), rules.DefaultProxyUID, "app 10.213.1.1:8080"},
			probe{"app to the pod IP (v0): to the proxy", pod, ap(podA, appPort), 0, "proxy-out 10.213.1.1:8080"},
		)
	}
	// The loopback rules of every v1 generation: the proxy reaching the app
	// through the pod IP is inbound traffic; the app's own is left alone.
	return append(probes,
		probe{"proxy to the pod IP (v1): to the inbound proxy", pod, ap(podA, appPort), rules.DefaultProxyUID, "proxy-in 10.213.1.1:8080"},
		probe{"app to the pod IP (v1): direct", pod, ap(podA, appPort), 0, "app 10.213.1.1:8080"},
	)
}

// TestTrafficInclusionList checks osm-v1's inclusion list: only the
// included range goes to the proxy, and a family with no included range
// (IPv6 here) redirects nothing.
func TestTrafficInclusionList(t *testing.T) {
	requireIptables(t)
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			p := newTrafficPod(t)
			cfg := rules.DefaultConfig(rules.ProfileOSMv1)
			cfg.OutboundIPRangeInclusions = []string{peer1.String() + "/32"}
			p.mustApply(t, buildSets(t, cfg), b)
			p.check(t, []probe{
				{"app to included peer1: to the proxy", p.NS, ap(peer1, peerPort), 0, "proxy-out 10.213.1.2:80"},
				{"app to peer2, not included: direct", p.NS, ap(peer2, peerPort), 0, "peer2 10.213.2.2:80"},
				{"IPv6 app to peer1, no IPv6 inclusion: direct", p.NS, ap(peer16, peerPort), 0, "peer1 [fd00:213:1::2]:80"},
				{"peer1 to app port: inbound still redirected", p.peer1, ap(podA, appPort), 0, "proxy-in 10.213.1.1:8080"},
			})
		})
	}
}

// TestTrafficPodIPMode checks osm-v1's PodIP local proxy mode: the proxy's
// connections to loopback are sent to the pod's address, where an app that
// listens only there receives them; the app's own are not.
func TestTrafficPodIPMode(t *testing.T) {
	requireIptables(t)
	const podOnly = 9090
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			p := newTrafficPod(t)
			p.Serve(t, ap(podA, podOnly), "app-on-pod-ip")
			p.Serve(t, ap(podA6, podOnly), "app-on-pod-ip")
			cfg := rules.DefaultConfig(rules.ProfileOSMv1)
			cfg.LocalProxyMode = rules.LocalProxyPodIP
			cfg.PodIPs = []netip.Addr{podA, podA6}
			p.mustApply(t, buildSets(t, cfg), b)
			p.check(t, []probe{
				{"proxy to 127.0.0.1: to the pod IP", p.NS, ap(netip.MustParseAddr("127.0.0.1"), podOnly), rules.DefaultProxyUID, "app-on-pod-ip 127.0.0.1:9090"},
				{"app to 127.0.0.1: left alone", p.NS, ap(netip.MustParseAddr("127.0.0.1"), podOnly), 0, refused},
				{"IPv6 proxy to ::1: to the pod IP", p.NS, ap(netip.IPv6Loopback(), podOnly), rules.DefaultProxyUID, "app-on-pod-ip [::1]:9090"},
			})
		})
	}
}

// TestTrafficLocalDNSProxy checks osm-edge's DNS rule with real UDP: a
// lookup sent to 127.0.0.153:53 reaches the sidecar's DNS listener on
// 127.0.0.153:5300, from the app and from the proxy alike (osm-edge's rule
// has no owner match; the proxy's own lookups go to the MeshConfig's
// upstream servers, which the rule leaves alone); without the setting,
// nothing is rewritten. CHECK finds the rules in place, and applying them
// again changes nothing.
func TestTrafficLocalDNSProxy(t *testing.T) {
	requireIptables(t)
	dnsAddr := netip.MustParseAddr(rules.DNSProxyAddr)
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			p := newTrafficPod(t)
			p.ServeUDP(t, ap(dnsAddr, rules.DNSProxyPort), "dns-proxy")
			p.peer1.ServeUDP(t, ap(peer1, 53), "upstream")
			cfg := rules.DefaultConfig(rules.ProfileOSMv1)
			cfg.LocalDNSProxy = true
			sets := buildSets(t, cfg)
			p.mustApply(t, sets, b)
			if err := p.verify(sets, b); err != nil {
				t.Errorf("Verify after Apply: %v", err)
			}
			if res := p.mustApply(t, sets, b); res.Changed {
				t.Errorf("second Apply = %+v, want nothing changed", res)
			}
			for _, pr := range []struct {
				name string
				to   netip.AddrPort
				uid  int
				want string
			}{
				{"app to 127.0.0.153:53: the sidecar's DNS listener", ap(dnsAddr, 53), 1000, "dns-proxy"},
				{"proxy to 127.0.0.153:53: rewritten too, as osm-edge does", ap(dnsAddr, 53), rules.DefaultProxyUID, "dns-proxy"},
				{"proxy to its upstream server: direct", ap(peer1, 53), rules.DefaultProxyUID, "upstream"},
				{"app to another DNS server: direct", ap(peer1, 53), 1000, "upstream"},
			} {
				if got, err := p.ProbeUDP(pr.to, pr.uid); err != nil || got != pr.want {
					t.Errorf("%s: %q, %v; want %q", pr.name, got, err, pr.want)
				}
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		p := newTrafficPod(t)
		p.ServeUDP(t, ap(dnsAddr, rules.DNSProxyPort), "dns-proxy")
		p.mustApply(t, buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1)), BackendNFT)
		if got, err := p.ProbeUDP(ap(dnsAddr, 53), 1000); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("app to 127.0.0.153:53 without the setting: %q, %v; want nothing listening", got, err)
		}
	})
}
