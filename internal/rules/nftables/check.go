package nftables

import (
	"fmt"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// maxChainName is iptables' limit (XT_EXTENSION_MAXNAMELEN less the NUL);
// iptables-restore refuses longer names, so this package does too.
const maxChainName = 28

// check refuses a rule set Write would not encode as iptables-nft-restore
// does, and gives the nf_tables family of the rest.
func check(rs *rules.RuleSet) (uint8, error) {
	fam, err := nfproto(rs.Family)
	if err != nil {
		return 0, err
	}
	user := map[string]bool{}
	for _, c := range rs.Chains {
		if why := badChainName(c, user); why != "" {
			return 0, fmt.Errorf("nftables: chain %q: %s: %w", c, why, ErrUnsupported)
		}
		user[c] = true
	}
	for i, r := range rs.Rules {
		if err := checkRule(rs.Family, user, r); err != nil {
			return 0, fmt.Errorf("nftables: rule %d (%s): %w", i+1, r, err)
		}
	}
	return fam, nil
}

func badChainName(c string, seen map[string]bool) string {
	switch {
	case c == "" || len(c) > maxChainName:
		return fmt.Sprintf("a chain name has 1 to %d characters", maxChainName)
	case strings.ContainsAny(c, " \t\n\"'") || c[0] == '-' || c[0] == '!':
		return "not a chain name iptables accepts"
	case isBuiltin(c) || c == "ACCEPT" || c == "DROP" || c == "QUEUE" || c == "RETURN":
		return "a builtin chain or target, not a user chain"
	case seen[c]:
		return "declared twice"
	}
	return ""
}

func isBuiltin(c string) bool {
	_, ok := builtinChain(c)
	return ok
}

// unsupported is the error for one token of a rule.
func unsupported(tok, why string) error {
	return fmt.Errorf("%q: %s: %w", tok, why, ErrUnsupported)
}

// checkRule refuses what of r is not encoded, or not as iptables-nft
// would: the rule header's parts, then the matches, then the target.
func checkRule(fam rules.Family, user map[string]bool, r rules.Rule) error {
	if !isBuiltin(r.Chain) && !user[r.Chain] {
		return unsupported(r.Chain, "chain neither builtin nor declared")
	}
	switch {
	case r.Proto != 0 && r.Proto != rules.ProtoTCP && r.Proto != rules.ProtoUDP:
		return unsupported(fmt.Sprint(int(r.Proto)), "only -p tcp and -p udp are supported")
	case r.In == "+" || r.Out == "+":
		return unsupported("+", "an interface prefix needs a name before the +")
	case r.Out != "" && (r.Chain == "PREROUTING" || r.Chain == "INPUT"):
		return unsupported("-o", "iptables refuses it in "+r.Chain)
	case r.In != "" && (r.Chain == "OUTPUT" || r.Chain == "POSTROUTING"):
		return unsupported("-i", "iptables refuses it in "+r.Chain)
	case r.Dst.IsSet() && (fam == rules.IPv4) != r.Dst.Net.Addr().Is4():
		return unsupported(r.Dst.Text, "address of the other family")
	case r.Dst.IsSet() && r.Dst.Net.Bits() == 0:
		return unsupported(r.Dst.Text, "prefix length 0 is not supported")
	}
	if err := checkMatches(r); err != nil {
		return err
	}
	return checkTarget(fam, user, r)
}

// checkMatches refuses a module loaded twice, a port match without its
// protocol and a multiport list longer than one xt_multiport_v1 holds.
func checkMatches(r rules.Rule) error {
	seen := map[rules.MatchKind]bool{}
	for _, m := range r.Matches {
		switch {
		case seen[m.Kind]:
			return unsupported(fmt.Sprint(m.Kind), "match given twice")
		case m.Kind != rules.MatchDPort && m.Kind != rules.MatchMultiport && m.Kind != rules.MatchOwner:
			return unsupported(fmt.Sprint(m.Kind), "match not supported")
		case m.Kind != rules.MatchOwner && r.Proto == 0:
			return unsupported("--dport", "needs -p tcp or -p udp")
		case m.Kind == rules.MatchDPort && m.Port == 0:
			return unsupported("--dport", "port 0")
		case m.Kind == rules.MatchMultiport && (len(m.Ports) == 0 || len(m.Ports) > maxMultiport):
			return unsupported(ports(m.Ports), fmt.Sprintf("1 to %d ports", maxMultiport))
		}
		seen[m.Kind] = true
	}
	return nil
}

func ports(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// checkTarget refuses a jump to a chain not declared, REDIRECT other than
// of tcp to a port, and DNAT but to one address of the family (with a
// port only where the rule has a protocol).
func checkTarget(fam rules.Family, user map[string]bool, r rules.Rule) error {
	t := r.Target
	switch t.Kind {
	case rules.TargetReturn, rules.TargetAccept:
	case rules.TargetJump:
		if !user[t.Chain] {
			return unsupported(t.Chain, "target not supported")
		}
	case rules.TargetRedirect:
		if r.Proto != rules.ProtoTCP || t.Port == 0 {
			return unsupported("--to-ports", "needs -p tcp and a port")
		}
	case rules.TargetDNAT:
		switch {
		case !t.Addr.IsValid():
			return unsupported("DNAT", "needs the address to go to")
		case (fam == rules.IPv4) != t.Addr.Is4() || t.Addr.Zone() != "":
			return unsupported(t.Addr.String(), "address of the other family")
		case t.Port != 0 && (r.Proto == 0 || fam != rules.IPv4):
			return unsupported(t.Addr.String(), "a port needs -p tcp or -p udp, and IPv4")
		}
	default:
		return unsupported("-j", "missing: rules without a target are not supported")
	}
	return nil
}
