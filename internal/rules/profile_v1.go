package rules

import (
	"fmt"
	"net/netip"
)

// PodIPPlaceholder stands for the pod's address in PodIP mode when it is
// not known, as osm-init's script wrote it; such a rule set renders as an
// osm-init command line but cannot be applied.
const PodIPPlaceholder = "$POD_IP"

// osm-edge's local DNS proxy: the injector points the pod's resolver at
// DNSProxyAddr, and the sidecar listens for DNS on DNSProxyAddr:DNSProxyPort.
const (
	DNSProxyAddr = "127.0.0.153"
	DNSProxyPort = 5300
)

// dnsProxyAddr is DNSProxyAddr, parsed.
func dnsProxyAddr() netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, 153}) }

// dnsProxyDst is osm-edge's DNS rule's destination, the bare address as it
// wrote it.
func dnsProxyDst() Dst { return Dst{Text: DNSProxyAddr, Net: netip.PrefixFrom(dnsProxyAddr(), 32)} }

// dnsProxyTarget is where osm-edge's DNS rule sends lookups.
func dnsProxyTarget() Target {
	return Target{Kind: TargetDNAT, Addr: dnsProxyAddr(), Port: DNSProxyPort}
}

// buildV1 writes the rules of OSM v1.1+ and osm-edge in their generator's
// order: inbound, outbound static, osm-edge's DNS rule, the PodIP DNAT,
// then the outbound interface, IP range and port exclusions (appended),
// and the inclusions or the final redirect.
func (b *builder) buildV1() error {
	c := profileChains(ProfileOSMv1)
	cfg := b.cfg
	b.chains(c)
	b.v1Inbound(c, cfg.NetworkInterfaceExclusions)
	b.v1OutboundStatic(c)

	// The resolver osm-edge's injector writes is IPv4 loopback, so only
	// the IPv4 set has the rule.
	if cfg.LocalDNSProxy && b.fam == IPv4 {
		b.add(Append, ChainOutput, Rule{Proto: ProtoUDP, Dst: dnsProxyDst(), Matches: dport(53), Target: dnsProxyTarget()})
	}
	if cfg.LocalProxyMode == LocalProxyPodIP {
		podIP, err := b.podIP()
		if err != nil {
			return err
		}
		b.add(Insert, ChainOutput, Rule{Proto: ProtoTCP, Out: "lo", Dst: b.loopback(), Matches: owner(cfg.ProxyUID, false), Target: Target{Kind: TargetDNAT, Addr: podIP}})
	}
	for _, iface := range cfg.NetworkInterfaceExclusions {
		b.add(Append, c.outbound, Rule{Out: iface, Target: ret})
	}
	for _, d := range b.cidrs(cfg.OutboundIPRangeExclusions) {
		b.add(Append, c.outbound, Rule{Dst: d, Target: ret})
	}
	b.portRules(Append, c.outbound, cfg.OutboundPortExclusions, ret)

	if len(cfg.OutboundIPRangeInclusions) > 0 {
		// An inclusion list anywhere means "only these": a family with
		// none of its own redirects nothing rather than everything.
		for _, d := range b.cidrs(cfg.OutboundIPRangeInclusions) {
			b.add(Append, c.outbound, Rule{Dst: d, Target: jump(c.outRedirect)})
		}
		b.add(Append, c.outbound, Rule{Target: ret})
	} else {
		b.add(Append, c.outbound, Rule{Target: jump(c.outRedirect)})
	}
	return nil
}

// buildV10 writes OSM v1.0.x's rules: the v1 chains without interface
// exclusions, the final redirect right after the static rules, and the
// outbound exclusions inserted at the top of the chain after it.
func (b *builder) buildV10() {
	c := profileChains(ProfileOSMv10)
	b.chains(c)
	b.v1Inbound(c, nil)
	b.v1OutboundStatic(c)
	b.add(Append, c.outbound, Rule{Target: jump(c.outRedirect)})
	for _, d := range b.cidrs(b.cfg.OutboundIPRangeExclusions) {
		b.add(Insert, c.outbound, Rule{Dst: d, Target: ret})
	}
	b.portRules(Insert, c.outbound, b.cfg.OutboundPortExclusions, ret)
}

// v1Inbound writes the inbound rules every v1 generation shares, then the
// inbound interface and port exclusions, inserted at the top.
func (b *builder) v1Inbound(c chainNames, ifaces []string) {
	cfg := b.cfg
	b.add(Append, c.inRedirect, Rule{Proto: ProtoTCP, Target: redirect(cfg.InboundPort)})
	b.add(Append, ChainPrerouting, Rule{Proto: ProtoTCP, Target: jump(c.inbound)})
	for _, p := range cfg.ExcludedInboundPorts {
		b.add(Append, c.inbound, Rule{Proto: ProtoTCP, Matches: dport(p), Target: ret})
	}
	b.add(Append, c.inbound, Rule{Proto: ProtoTCP, Target: jump(c.inRedirect)})
	for _, iface := range ifaces {
		b.add(Insert, c.inbound, Rule{In: iface, Target: ret})
	}
	b.portRules(Insert, c.inbound, cfg.InboundPortExclusions, ret)
}

// v1OutboundStatic writes the outbound rules every v1 generation shares,
// up to the loopback RETURN.
func (b *builder) v1OutboundStatic(c chainNames) {
	cfg := b.cfg
	uid := cfg.ProxyUID
	b.add(Append, c.outRedirect, Rule{Proto: ProtoTCP, Target: redirect(cfg.OutboundPort)})
	b.add(Append, c.outRedirect, Rule{Proto: ProtoTCP, Matches: dport(cfg.AdminPort), Target: accept})
	b.add(Append, ChainOutput, Rule{Proto: ProtoTCP, Target: jump(c.outbound)})
	// The proxy talking to the app over loopback to a non-loopback address
	// (the pod IP) is inbound traffic; the app's own loopback traffic is not
	// the mesh's business.
	notLoopback := b.loopback()
	notLoopback.Not = true
	b.add(Append, c.outbound, Rule{Out: "lo", Dst: notLoopback, Matches: owner(uid, false), Target: jump(c.inRedirect)})
	b.add(Append, c.outbound, Rule{Out: "lo", Matches: owner(uid, true), Target: ret})
	b.add(Append, c.outbound, Rule{Matches: owner(uid, false), Target: ret})
	b.add(Append, c.outbound, Rule{Dst: b.loopback(), Target: ret})
}

// podIP is the pod's address of this builder's family, or the zero Addr,
// the placeholder, when the configuration carries no address at all
// (rendering for people).
func (b *builder) podIP() (netip.Addr, error) {
	for _, a := range b.cfg.PodIPs {
		if FamilyOf(a) == b.fam {
			return a.Unmap(), nil
		}
	}
	if len(b.cfg.PodIPs) == 0 {
		return netip.Addr{}, nil
	}
	return netip.Addr{}, fmt.Errorf("local proxy mode %s needs the pod's %s address; the pod has %v", LocalProxyPodIP, b.fam, addrs(b.cfg.PodIPs))
}

func addrs(in []netip.Addr) []string {
	out := make([]string, len(in))
	for i, a := range in {
		out[i] = a.String()
	}
	return out
}
