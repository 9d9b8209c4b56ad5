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
	// dnsProxyTarget is where osm-edge's DNS rule sends lookups: a
	// constant, not built at the plugin's every start.
	dnsProxyTarget = DNSProxyAddr + ":5300"
)

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
		b.add(Append, ChainOutput, "-p", "udp", "-d", DNSProxyAddr, "--dport", "53", "-j", "DNAT", "--to-destination", dnsProxyTarget)
	}
	if cfg.LocalProxyMode == LocalProxyPodIP {
		podIP, err := b.podIP()
		if err != nil {
			return err
		}
		b.add(Insert, ChainOutput, "-p", "tcp", "-o", "lo", "-d", b.loopback(), "-m", "owner", "--uid-owner", itoa(cfg.ProxyUID), "-j", "DNAT", "--to-destination", podIP)
	}
	for _, iface := range cfg.NetworkInterfaceExclusions {
		b.add(Append, c.outbound, "-o", iface, "-j", "RETURN")
	}
	for _, cidr := range b.cidrs(cfg.OutboundIPRangeExclusions) {
		b.add(Append, c.outbound, "-d", cidr, "-j", "RETURN")
	}
	b.portRules(Append, c.outbound, cfg.OutboundPortExclusions, "RETURN")

	if len(cfg.OutboundIPRangeInclusions) > 0 {
		// An inclusion list anywhere means "only these": a family with
		// none of its own redirects nothing rather than everything.
		for _, cidr := range b.cidrs(cfg.OutboundIPRangeInclusions) {
			b.add(Append, c.outbound, "-d", cidr, "-j", c.outRedirect)
		}
		b.add(Append, c.outbound, "-j", "RETURN")
	} else {
		b.add(Append, c.outbound, "-j", c.outRedirect)
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
	b.add(Append, c.outbound, "-j", c.outRedirect)
	for _, cidr := range b.cidrs(b.cfg.OutboundIPRangeExclusions) {
		b.add(Insert, c.outbound, "-d", cidr, "-j", "RETURN")
	}
	b.portRules(Insert, c.outbound, b.cfg.OutboundPortExclusions, "RETURN")
}

// v1Inbound writes the inbound rules every v1 generation shares, then the
// inbound interface and port exclusions, inserted at the top.
func (b *builder) v1Inbound(c chainNames, ifaces []string) {
	cfg := b.cfg
	b.add(Append, c.inRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-port", itoa(cfg.InboundPort))
	b.add(Append, ChainPrerouting, "-p", "tcp", "-j", c.inbound)
	for _, p := range cfg.ExcludedInboundPorts {
		b.add(Append, c.inbound, "-p", "tcp", "--dport", itoa(p), "-j", "RETURN")
	}
	b.add(Append, c.inbound, "-p", "tcp", "-j", c.inRedirect)
	for _, iface := range ifaces {
		b.add(Insert, c.inbound, "-i", iface, "-j", "RETURN")
	}
	b.portRules(Insert, c.inbound, cfg.InboundPortExclusions, "RETURN")
}

// v1OutboundStatic writes the outbound rules every v1 generation shares,
// up to the loopback RETURN.
func (b *builder) v1OutboundStatic(c chainNames) {
	cfg := b.cfg
	uid := itoa(cfg.ProxyUID)
	b.add(Append, c.outRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-port", itoa(cfg.OutboundPort))
	b.add(Append, c.outRedirect, "-p", "tcp", "--dport", itoa(cfg.AdminPort), "-j", "ACCEPT")
	b.add(Append, ChainOutput, "-p", "tcp", "-j", c.outbound)
	// The proxy talking to the app over loopback to a non-loopback address
	// (the pod IP) is inbound traffic; the app's own loopback traffic is not
	// the mesh's business.
	b.add(Append, c.outbound, "-o", "lo", "!", "-d", b.loopback(), "-m", "owner", "--uid-owner", uid, "-j", c.inRedirect)
	b.add(Append, c.outbound, "-o", "lo", "-m", "owner", "!", "--uid-owner", uid, "-j", "RETURN")
	b.add(Append, c.outbound, "-m", "owner", "--uid-owner", uid, "-j", "RETURN")
	b.add(Append, c.outbound, "-d", b.loopback(), "-j", "RETURN")
}

// podIP is the pod's address of this builder's family, or the placeholder
// when the configuration carries no address at all (rendering for people).
func (b *builder) podIP() (string, error) {
	for _, a := range b.cfg.PodIPs {
		if FamilyOf(a) == b.fam {
			return a.Unmap().String(), nil
		}
	}
	if len(b.cfg.PodIPs) == 0 {
		return PodIPPlaceholder, nil
	}
	return "", fmt.Errorf("local proxy mode %s needs the pod's %s address; the pod has %v", LocalProxyPodIP, b.fam, addrs(b.cfg.PodIPs))
}

func addrs(in []netip.Addr) []string {
	out := make([]string, len(in))
	for i, a := range in {
		out[i] = a.String()
	}
	return out
}
