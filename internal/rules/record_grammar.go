package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The grammar of the rules OSM's generators wrote: the chains, and the
// values ParseOSMInit lets through to the render-back comparison, on top
// of what the rule parser (parse.go) takes. It is there so that a refusal
// names the token at fault, rather than only the rule that differs from
// OSM's.

func (n chainNames) list() []string {
	return []string{n.inbound, n.inRedirect, n.outbound, n.outRedirect}
}

// declare records `-N CHAIN` or `:CHAIN - [0:0]`.
func (rec *recording) declare(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("osm-init created one chain at a time (-N CHAIN), got %q", strings.Join(args, " "))
	}
	if !slices.Contains(rec.names.list(), args[0]) {
		return fmt.Errorf("unknown chain %q (osm-init of this form created %s)", args[0], strings.Join(rec.names.list(), ", "))
	}
	rec.chains = append(rec.chains, args[0])
	return nil
}

// addRule checks one `-A|-I CHAIN args...` and records it.
func (rec *recording) addRule(where string, toks []string) error {
	op := Op(toks[0])
	if op != Append && op != Insert {
		return recordErr(where, "unknown operation %q (osm-init appended rules with -A, inserted them with -I and created chains with -N)", toks[0])
	}
	if len(toks) < 3 {
		return recordErr(where, "a rule with no arguments")
	}
	known := append([]string{ChainPrerouting, ChainOutput}, rec.names.list()...)
	if !slices.Contains(known, toks[1]) {
		return recordErr(where, "unknown chain %q (osm-init of this form wrote rules in %s)", toks[1], strings.Join(known, ", "))
	}
	r, err := parseArgs(toks[2:], func(c string) bool { return slices.Contains(rec.names.list(), c) })
	if err == nil {
		err = checkValues(r)
	}
	if err != nil {
		return recordErr(where, "%v", err)
	}
	r.Op, r.Chain = op, toks[1]
	rec.rules = append(rec.rules, r)
	rec.where = append(rec.where, where)
	return nil
}

// checkValues refuses the values OSM's generators never wrote in a rule
// that parsed: -d without a prefix length (but osm-edge's DNS address) or
// of IPv6, single ports but the fixed ones, another uid than the proxy's,
// and REDIRECT and DNAT to anything but OSM's ports and addresses.
func checkValues(r Rule) error {
	if r.Dst.IsSet() {
		if err := checkDest(r.Dst.Text); err != nil {
			return err
		}
	}
	for _, m := range r.Matches {
		switch {
		case m.Kind == MatchDPort && !slices.Contains(singlePorts(), m.Port):
			return fmt.Errorf("--dport %d: osm-init matched single ports only for %s", m.Port, strings.ReplaceAll(joinPorts(singlePorts()), ",", ", "))
		case m.Kind == MatchOwner && m.UID != DefaultProxyUID:
			return fmt.Errorf("--uid-owner %d: OSM's proxy runs as uid %d", m.UID, DefaultProxyUID)
		}
	}
	t := r.Target
	switch {
	case t.Kind == TargetRedirect && t.Port != DefaultOutboundPort && t.Port != DefaultInboundPort:
		return fmt.Errorf("REDIRECT --to-port %d: osm-init wrote REDIRECT only with %d or %d", t.Port, DefaultOutboundPort, DefaultInboundPort)
	case t.Kind == TargetDNAT && t.Addr.IsValid() && t != dnsProxyTarget():
		return fmt.Errorf("DNAT --to-destination %s: osm-init wrote DNAT only with %s or %s", t.destination(), PodIPPlaceholder, dnsProxyTarget().destination())
	}
	return nil
}

// checkDest accepts an IPv4 range, or osm-edge's DNS address as it wrote it.
func checkDest(v string) error {
	if v == DNSProxyAddr {
		return nil
	}
	p, err := parseCIDR(v)
	switch {
	case err != nil:
		if _, aerr := netip.ParseAddr(v); aerr == nil {
			return fmt.Errorf("-d %s: an address without a prefix length (osm-init wrote ranges, such as %s/32)", v, v)
		}
		return fmt.Errorf("-d: %w", err)
	case FamilyOf(p.Addr()) == IPv6:
		return fmt.Errorf("-d %s: an IPv6 range in an IPv4 rule; OSM wrote no IPv6 rules, and iptables refuses it (osm-init failed on such a pod)", v)
	}
	return nil
}

// singlePorts are the ports osm-init matched one at a time: the admin
// port's ACCEPT, the excluded inbound ports, osm-edge's DNS port.
func singlePorts() []uint16 {
	return append([]uint16{DefaultAdminPort, 53}, DefaultConfig(ProfileOSMv1).ExcludedInboundPorts...)
}
