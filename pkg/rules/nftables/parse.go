package nftables

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// parsedSet is a Set that Check accepted, in the shape the encoder wants.
type parsedSet struct {
	family uint8
	rules  []rule
}

// rule is one rule's parts. The encoder emits them in iptables-nft's
// order, not in the order of the arguments: -i, -o, -p, -d, the matches
// (in the order they were first named), the counter, the target.
type rule struct {
	chain    string
	insert   bool
	iif, oif string       // -i, -o: a name, or a prefix ending in +
	proto    uint8        // -p: unix.IPPROTO_TCP, unix.IPPROTO_UDP or 0
	dst      netip.Prefix // valid when -d was given
	dstInv   bool         // ! -d
	matches  []match
	target   string     // RETURN, ACCEPT, REDIRECT, DNAT or a user chain
	toPort   uint16     // REDIRECT --to-ports, DNAT --to-destination's port
	toAddr   netip.Addr // DNAT --to-destination
	fam      Family
	original Rule
}

// match is an iptables match: the tcp or udp match implied by --dport,
// or an -m owner / -m multiport one.
type match struct {
	name   string // "tcp", "udp", "owner" or "multiport"
	set    bool   // its option was given
	port   uint16 // tcp/udp --dport
	uid    uint32 // owner --uid-owner
	invert bool   // owner ! --uid-owner
	ports  []uint16
}

// maxChainName is iptables' limit (XT_EXTENSION_MAXNAMELEN less the NUL);
// iptables-restore refuses longer names, so this package does too.
const maxChainName = 28

// parseSet checks the chains and parses every rule.
func parseSet(s Set) (parsedSet, error) {
	fam, err := s.Family.nfproto()
	if err != nil {
		return parsedSet{}, err
	}
	user := map[string]bool{}
	for _, c := range s.Chains {
		if why := badChainName(c, user); why != "" {
			return parsedSet{}, fmt.Errorf("nftables: chain %q: %s: %w", c, why, ErrUnsupported)
		}
		user[c] = true
	}
	p := parsedSet{family: fam, rules: make([]rule, 0, len(s.Rules))}
	for i, r := range s.Rules {
		pr, err := parseRule(s.Family, user, r)
		if err != nil {
			return parsedSet{}, fmt.Errorf("nftables: rule %d (%s): %w", i+1, r, err)
		}
		p.rules = append(p.rules, pr)
	}
	return p, nil
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

// parseRule reads the arguments of r the way iptables would for the
// shapes this package writes, and refuses every other token. "!" negates
// the option after it, as in iptables; only -d and --uid-owner take it.
func parseRule(fam Family, user map[string]bool, r Rule) (rule, error) {
	out := rule{chain: r.Chain, insert: r.Insert, fam: fam, original: r}
	if !isBuiltin(r.Chain) && !user[r.Chain] {
		return out, unsupported(r.Chain, "chain neither builtin nor declared")
	}
	args := r.Args
	for i := 0; i < len(args); i++ {
		tok, neg := args[i], false
		if tok == "!" {
			if i+1 == len(args) || !negatable(args[i+1]) {
				return out, unsupported(tok, "only ! -d and ! --uid-owner are supported")
			}
			i++
			tok, neg = args[i], true
		}
		val := ""
		if takesValue(tok) {
			if i+1 == len(args) {
				return out, unsupported(tok, "no value")
			}
			i++
			val = args[i]
		}
		if err := out.option(tok, val, neg, user); err != nil {
			return out, err
		}
	}
	return out, out.complete()
}

// complete refuses rules whose options are each fine but do not add up.
func (r *rule) complete() error {
	for _, m := range r.matches {
		if !m.set {
			return unsupported(m.name, "match without its option")
		}
		if m.name == "multiport" && r.proto == 0 {
			return unsupported(m.name, "needs -p tcp or -p udp")
		}
	}
	switch {
	case r.oif != "" && (r.chain == "PREROUTING" || r.chain == "INPUT"):
		return unsupported("-o", "iptables refuses it in "+r.chain)
	case r.iif != "" && (r.chain == "OUTPUT" || r.chain == "POSTROUTING"):
		return unsupported("-i", "iptables refuses it in "+r.chain)
	case r.target == "":
		return unsupported("-j", "missing: rules without a target are not supported")
	case r.target == "REDIRECT" && r.toPort == 0:
		return unsupported("REDIRECT", "needs --to-ports")
	case r.target == "DNAT" && !r.toAddr.IsValid():
		return unsupported("DNAT", "needs --to-destination")
	}
	return nil
}

func negatable(tok string) bool {
	return tok == "-d" || tok == "--destination" || tok == "--uid-owner"
}

func takesValue(tok string) bool {
	switch tok {
	case "-p", "--protocol", "-d", "--destination", "--dport", "--destination-port",
		"-i", "--in-interface", "-o", "--out-interface",
		"-m", "--match", "--uid-owner", "--dports", "--destination-ports",
		"-j", "--jump", "--to-port", "--to-ports", "--to-destination":
		return true
	}
	return false
}

// option applies one option with its value; neg is a "!" before it.
// Options of a match or target are only known once it is loaded (-p for
// --dport, -m, -j), as in iptables, which calls anything else an unknown
// option.
func (r *rule) option(tok, val string, neg bool, user map[string]bool) error {
	var err error
	switch tok {
	case "-p", "--protocol":
		return r.protocol(tok, val)
	case "-d", "--destination":
		if r.dst.IsValid() {
			return unsupported(tok, "given twice")
		}
		r.dst, err = parseDst(r.fam, val)
		r.dstInv = neg
	case "-i", "--in-interface":
		return iface(&r.iif, tok, val)
	case "-o", "--out-interface":
		return iface(&r.oif, tok, val)
	case "--dport", "--destination-port":
		return r.dport(tok, val)
	case "-m", "--match":
		return r.loadMatch(val)
	case "--uid-owner":
		m := r.find("owner")
		if m == nil || m.set {
			return unsupported(tok, "needs one -m owner before it")
		}
		var uid uint64
		uid, err = parseUint(val, 32)
		m.uid, m.invert, m.set = uint32(uid), neg, true
	case "--dports", "--destination-ports":
		m := r.find("multiport")
		if m == nil || m.set {
			return unsupported(tok, "needs one -m multiport before it")
		}
		m.ports, err = parsePorts(val)
		m.set = true
	case "-j", "--jump":
		return r.jump(tok, val, user)
	case "--to-port", "--to-ports":
		if r.target != "REDIRECT" || r.toPort != 0 || r.proto != unix.IPPROTO_TCP {
			return unsupported(tok, "needs -p tcp and -j REDIRECT before it, once")
		}
		r.toPort, err = parsePort(val)
	case "--to-destination":
		if r.target != "DNAT" || r.toAddr.IsValid() {
			return unsupported(tok, "needs -j DNAT before it, once")
		}
		r.toAddr, r.toPort, err = parseDNAT(r.fam, val, r.proto != 0)
	default:
		return unsupported(tok, "option not supported")
	}
	return badValue(val, err)
}

// badValue is the error for a value that did not parse, or nil.
func badValue(val string, err error) error {
	if err != nil {
		return unsupported(val, err.Error())
	}
	return nil
}

func (r *rule) protocol(tok, val string) error {
	switch {
	case r.proto != 0:
		return unsupported(tok, "given twice")
	case val == "tcp":
		r.proto = unix.IPPROTO_TCP
	case val == "udp":
		r.proto = unix.IPPROTO_UDP
	default:
		return unsupported(val, "only -p tcp and -p udp are supported")
	}
	return nil
}

// dport is --dport of the tcp or udp match that -p loads.
func (r *rule) dport(tok, val string) error {
	if r.proto == 0 {
		return unsupported(tok, "needs -p tcp or -p udp before it")
	}
	m := r.load(protoName(r.proto))
	if m.set {
		return unsupported(tok, "given twice")
	}
	var err error
	m.port, err = parsePort(val)
	m.set = true
	return badValue(val, err)
}

func (r *rule) loadMatch(name string) error {
	switch {
	case name != "owner" && name != "multiport":
		return unsupported(name, "match not supported")
	case r.find(name) != nil:
		return unsupported(name, "match given twice")
	}
	r.load(name)
	return nil
}

func (r *rule) jump(tok, val string, user map[string]bool) error {
	if r.target != "" {
		return unsupported(tok, "given twice")
	}
	switch val {
	case "RETURN", "ACCEPT", "REDIRECT", "DNAT":
	default:
		if !user[val] {
			return unsupported(val, "target not supported")
		}
	}
	r.target = val
	return nil
}
