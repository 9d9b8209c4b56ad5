package rules

// buildV0 writes the rules of the troubleshooting guide, in its order:
// chains, outbound static, inbound static, then the -I exclusions (IP
// ranges, outbound ports, inbound ports).
func (b *builder) buildV0() {
	c := profileChains(ProfileOSMv0)
	cfg := b.cfg
	b.chains(c)

	b.add(Append, c.outRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-port", itoa(cfg.OutboundPort))
	b.add(Append, c.outRedirect, "-p", "tcp", "--dport", itoa(cfg.AdminPort), "-j", "ACCEPT")
	b.add(Append, ChainOutput, "-p", "tcp", "-j", c.outbound)
	b.add(Append, c.outbound, "-m", "owner", "--uid-owner", itoa(cfg.ProxyUID), "-j", "RETURN")
	b.add(Append, c.outbound, "-d", b.loopback(), "-j", "RETURN")
	b.add(Append, c.outbound, "-j", c.outRedirect)

	b.add(Append, c.inRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-port", itoa(cfg.InboundPort))
	b.add(Append, ChainPrerouting, "-p", "tcp", "-j", c.inbound)
	for _, p := range cfg.ExcludedInboundPorts {
		b.add(Append, c.inbound, "-p", "tcp", "--dport", itoa(p), "-j", "RETURN")
	}
	b.add(Append, c.inbound, "-p", "tcp", "-j", c.inRedirect)

	for _, cidr := range b.cidrs(cfg.OutboundIPRangeExclusions) {
		b.add(Insert, c.outbound, "-d", cidr, "-j", "RETURN")
	}
	b.portRules(Insert, c.outbound, cfg.OutboundPortExclusions, "RETURN")
	b.portRules(Insert, c.inbound, cfg.InboundPortExclusions, "RETURN")
}
