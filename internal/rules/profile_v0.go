package rules

// buildV0 writes the rules of the troubleshooting guide, in its order:
// chains, outbound static, inbound static, then the -I exclusions (IP
// ranges, outbound ports, inbound ports).
func (b *builder) buildV0() {
	c := profileChains(ProfileOSMv0)
	cfg := b.cfg
	b.chains(c)

	b.add(Append, c.outRedirect, Rule{Proto: ProtoTCP, Target: redirect(cfg.OutboundPort)})
	b.add(Append, c.outRedirect, Rule{Proto: ProtoTCP, Matches: dport(cfg.AdminPort), Target: accept})
	b.add(Append, ChainOutput, Rule{Proto: ProtoTCP, Target: jump(c.outbound)})
	b.add(Append, c.outbound, Rule{Matches: owner(cfg.ProxyUID, false), Target: ret})
	b.add(Append, c.outbound, Rule{Dst: b.loopback(), Target: ret})
	b.add(Append, c.outbound, Rule{Target: jump(c.outRedirect)})

	b.add(Append, c.inRedirect, Rule{Proto: ProtoTCP, Target: redirect(cfg.InboundPort)})
	b.add(Append, ChainPrerouting, Rule{Proto: ProtoTCP, Target: jump(c.inbound)})
	for _, p := range cfg.ExcludedInboundPorts {
		b.add(Append, c.inbound, Rule{Proto: ProtoTCP, Matches: dport(p), Target: ret})
	}
	b.add(Append, c.inbound, Rule{Proto: ProtoTCP, Target: jump(c.inRedirect)})

	for _, d := range b.cidrs(cfg.OutboundIPRangeExclusions) {
		b.add(Insert, c.outbound, Rule{Dst: d, Target: ret})
	}
	b.portRules(Insert, c.outbound, cfg.OutboundPortExclusions, ret)
	b.portRules(Insert, c.inbound, cfg.InboundPortExclusions, ret)
}
