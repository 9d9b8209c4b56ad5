package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The grammar of the rules OSM's generators wrote: which matches, targets
// and values ParseOSMInit lets through to the render-back comparison. It
// is there so that a refusal names the token at fault, rather than only
// the rule that differs from OSM's.

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
	if err := rec.checkArgs(toks[2:]); err != nil {
		return recordErr(where, "%v", err)
	}
	rec.rules = append(rec.rules, Rule{Op: op, Chain: toks[1], Args: toks[2:]})
	rec.where = append(rec.where, where)
	return nil
}

// checkArgs checks a rule's matches, then its target.
func (rec *recording) checkArgs(args []string) error {
	j := slices.Index(args, "-j")
	if j < 0 {
		return fmt.Errorf("no target (-j): every rule of osm-init had one")
	}
	if err := checkMatches(args[:j]); err != nil {
		return err
	}
	return rec.checkTarget(args[j+1:])
}

// checkMatches walks the matches before -j; "!" negates the next option,
// which OSM did only for -d and --uid-owner.
func checkMatches(m []string) error {
	modules := map[string]bool{}
	for i := 0; i < len(m); i++ {
		neg := m[i] == "!"
		if neg {
			if i++; i == len(m) {
				return fmt.Errorf("a \"!\" with nothing after it")
			}
		}
		opt := m[i]
		if neg && opt != "-d" && opt != "--uid-owner" {
			return fmt.Errorf("\"!\" before %q: osm-init negated only -d and --uid-owner", opt)
		}
		if i++; i == len(m) {
			return fmt.Errorf("%s without a value", opt)
		}
		if err := checkMatch(opt, m[i], modules); err != nil {
			return err
		}
	}
	return nil
}

// checkMatch checks one option and its value; modules are the match
// modules loaded so far (--dports needs multiport, --uid-owner owner).
func checkMatch(opt, v string, modules map[string]bool) error {
	switch opt {
	case "-p":
		if v != "tcp" && v != "udp" {
			return fmt.Errorf("unknown protocol %q (osm-init matched tcp, and udp for DNS)", v)
		}
	case "-d":
		return checkDest(v)
	case "-o", "-i":
		return validateInterface(v)
	case "--dport":
		return checkSinglePort(v)
	case "-m", "--match":
		if v != "multiport" && v != "owner" {
			return fmt.Errorf("unknown match %q (osm-init used multiport and owner)", v)
		}
		modules[v] = true
	case "--dports":
		if !modules["multiport"] {
			return fmt.Errorf("--dports without \"--match multiport\"")
		}
		if _, err := parseDports(v); err != nil {
			return fmt.Errorf("--dports %s: %w", v, err)
		}
	case "--uid-owner":
		if !modules["owner"] {
			return fmt.Errorf("--uid-owner without \"-m owner\"")
		}
		if v != itoa(uint32(DefaultProxyUID)) {
			return fmt.Errorf("--uid-owner %s: OSM's proxy runs as uid %d", v, DefaultProxyUID)
		}
	default:
		return fmt.Errorf("unknown match option %q", opt)
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

func checkSinglePort(v string) error {
	p, err := ParsePort(v)
	if err != nil {
		return fmt.Errorf("--dport: %w", err)
	}
	if !slices.Contains(singlePorts(), p) {
		return fmt.Errorf("--dport %d: osm-init matched single ports only for %s", p, strings.ReplaceAll(joinPorts(singlePorts()), ",", ", "))
	}
	return nil
}

// parseDports reads a multiport list as osm-init wrote it: ports joined
// by commas, no spaces (a token never holds one).
func parseDports(v string) ([]uint16, error) {
	parts := strings.Split(v, ",")
	ports := make([]uint16, len(parts))
	for i, s := range parts {
		p, err := ParsePort(s)
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	return ports, nil
}

// checkTarget checks what follows -j: OSM's targets, with its values.
func (rec *recording) checkTarget(t []string) error {
	if len(t) == 0 {
		return fmt.Errorf("-j without a target")
	}
	var opts []string
	switch name := t[0]; {
	case name == "RETURN" || name == "ACCEPT" || slices.Contains(rec.names.list(), name):
	case name == "REDIRECT":
		opts = []string{"--to-port", itoa(uint16(DefaultOutboundPort)), itoa(uint16(DefaultInboundPort))}
	case name == "DNAT":
		opts = []string{"--to-destination", PodIPPlaceholder, dnsProxyTarget}
	default:
		return fmt.Errorf("unknown target %q", name)
	}
	if opts == nil {
		if len(t) > 1 {
			return fmt.Errorf("%q after target %s", strings.Join(t[1:], " "), t[0])
		}
		return nil
	}
	switch {
	case len(t) < 3 || t[1] != opts[0]:
		return fmt.Errorf("target %s without %s", t[0], opts[0])
	case !slices.Contains(opts[1:], t[2]):
		return fmt.Errorf("%s %s %s: osm-init wrote %s only with %s", t[0], opts[0], t[2], t[0], strings.Join(opts[1:], " or "))
	case len(t) > 3:
		return fmt.Errorf("%q after %s %s %s", strings.Join(t[3:], " "), t[0], opts[0], t[2])
	}
	return nil
}
