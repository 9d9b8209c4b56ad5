package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// target is -j NAME: one of ours, or a jump to a chain.
func (p *argParser) target(name string) error {
	if p.r.Target.Kind != 0 {
		return errors.New("-j given twice")
	}
	t := Target{}
	switch name {
	case "RETURN":
		t.Kind = TargetReturn
	case "ACCEPT":
		t.Kind = TargetAccept
	case "REDIRECT":
		t.Kind = TargetRedirect
	case "DNAT":
		t.Kind = TargetDNAT
	default:
		// A name holding quotes, a backslash or a space would not read
		// back as itself once written; iptables-save prints none.
		if !p.isChain(name) || strings.ContainsAny(name, "\"\\ \t") || name == "" {
			return fmt.Errorf("unknown target %q", name)
		}
		t = Target{Kind: TargetJump, Chain: name}
	}
	p.r.Target = t
	return nil
}

// isTargetOption says whether name is the option of the rule's target
// not given yet; nothing else may follow the target.
func (p *argParser) isTargetOption(name string) bool {
	switch p.r.Target.Kind {
	case TargetRedirect:
		return name == "--to-ports" && p.targetOpt == ""
	case TargetDNAT:
		return name == "--to-destination" && p.targetOpt == ""
	}
	return false
}

// afterTarget is the error for args, which follow the target.
func (p *argParser) afterTarget(args []string) error {
	rest := strings.Join(args, " ")
	if p.targetOpt == "" {
		return fmt.Errorf("%q after target %s", rest, p.r.Target.name())
	}
	return fmt.Errorf("%q after %s %s %s", rest, p.r.Target.name(), p.targetOpt, p.targetVal)
}

// targetValue reads --to-ports or --to-destination, which only their
// target takes.
func (p *argParser) targetValue(tok, v string) error {
	if p.r.Target.Kind == 0 {
		return fmt.Errorf("unknown match option %q", tok)
	}
	p.targetOpt, p.targetVal = tok, v
	var err error
	if p.r.Target.Kind == TargetRedirect {
		p.r.Target.Port, err = parsePort(v)
	} else {
		p.r.Target.Addr, p.r.Target.Port, err = parseDNAT(v)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", tok, v, err)
	}
	return nil
}

// complete refuses a rule whose options are each fine but do not add up.
func (p *argParser) complete() error {
	r := &p.r
	for _, m := range r.Matches {
		switch {
		case m.Kind == MatchDPort && m.Port == 0, m.Kind == MatchMultiport && m.Ports == nil, m.Kind == MatchOwner && !p.uidGiven:
			return fmt.Errorf("match %s without its option", matchName(m.Kind, r.Proto))
		case m.Kind == MatchMultiport && r.Proto == 0:
			return errors.New("match multiport needs -p tcp or -p udp")
		}
	}
	t := r.Target
	switch {
	case t.Kind == TargetRedirect && p.targetOpt == "":
		return errors.New("target REDIRECT without --to-port")
	case t.Kind == TargetDNAT && p.targetOpt == "":
		return errors.New("target DNAT without --to-destination")
	case t.Port != 0 && r.Proto == 0:
		return fmt.Errorf("%s %s: a port needs -p tcp or -p udp", p.targetOpt, p.targetVal)
	}
	return nil
}

// matchName is the module's name, as -m names it.
func matchName(k MatchKind, proto Proto) string {
	switch k {
	case MatchMultiport:
		return "multiport"
	case MatchOwner:
		return "owner"
	}
	return proto.String()
}

// parseDecimal reads a plain decimal number. Leading zeros, signs and hex
// are refused: iptables reads numbers with base 0, where 010 is octal.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("not a plain decimal number")
	}
	return strconv.ParseUint(s, 10, bits)
}

// parsePort reads one port, 1-65535, in plain decimal.
func parsePort(s string) (uint16, error) {
	n, err := parseDecimal(s, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

// parsePorts reads a multiport list: ports joined by commas, no spaces.
// It takes more than 15 (the most one match holds), as OSM wrote them.
func parsePorts(v string) ([]uint16, error) {
	parts := strings.Split(v, ",")
	ports := make([]uint16, len(parts))
	for i, s := range parts {
		p, err := parsePort(s)
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	return ports, nil
}

// parseDNAT reads --to-destination: ADDR, IPv4's ADDR:PORT, or the
// placeholder for the pod's address. Ranges, IPv6 ports and zones are not
// in the model.
func parseDNAT(v string) (netip.Addr, uint16, error) {
	if v == PodIPPlaceholder {
		return netip.Addr{}, 0, nil
	}
	a, err := netip.ParseAddr(v)
	port := uint16(0)
	if host, ps, ok := strings.Cut(v, ":"); err != nil && ok && !strings.Contains(ps, ":") {
		if a, err = netip.ParseAddr(host); err == nil {
			port, err = parsePort(ps)
		}
	}
	switch {
	case err != nil:
		return netip.Addr{}, 0, errors.New("not an address or IPv4 address:port")
	case a.Zone() != "" || a.Is4In6():
		return netip.Addr{}, 0, errors.New("zones and mapped addresses are not in the model")
	case port != 0 && !a.Is4():
		return netip.Addr{}, 0, errors.New("not an address or IPv4 address:port")
	}
	return a, port, nil
}
