package nftables

import (
	"fmt"
	"net/netip"
	"strings"
)

// parsedSet is a Set that Check accepted, in the shape the encoder wants.
type parsedSet struct {
	family uint8
	rules  []rule
}

// rule is one rule's parts. The encoder emits them in iptables-nft's
// order, not in the order of the arguments: -p, -d, the matches (in the
// order they were first named), the counter, the target.
type rule struct {
	chain    string
	insert   bool
	dst      netip.Prefix // valid when -d was given
	tcp      bool         // -p tcp
	matches  []match
	target   string // RETURN, ACCEPT, REDIRECT or a user chain
	toPort   uint16 // REDIRECT --to-ports
	fam      Family
	original Rule
}

// match is an iptables match: the tcp match implied by --dport, or an
// -m owner / -m multiport one.
type match struct {
	name  string // "tcp", "owner" or "multiport"
	set   bool   // its option was given
	port  uint16 // tcp --dport
	uid   uint32 // owner --uid-owner
	ports []uint16
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
// shapes this package writes, and refuses every other token.
func parseRule(fam Family, user map[string]bool, r Rule) (rule, error) {
	out := rule{chain: r.Chain, insert: r.Insert, fam: fam, original: r}
	if !isBuiltin(r.Chain) && !user[r.Chain] {
		return out, unsupported(r.Chain, "chain neither builtin nor declared")
	}
	args := r.Args
	for i := 0; i < len(args); i++ {
		tok := args[i]
		val := ""
		if takesValue(tok) {
			if i+1 == len(args) {
				return out, unsupported(tok, "no value")
			}
			i++
			val = args[i]
		}
		if err := out.option(tok, val, user); err != nil {
			return out, err
		}
	}
	for _, m := range out.matches {
		if !m.set {
			return out, unsupported(m.name, "match without its option")
		}
		if m.name == "multiport" && !out.tcp {
			return out, unsupported(m.name, "needs -p tcp")
		}
	}
	switch {
	case out.target == "":
		return out, unsupported("-j", "missing: rules without a target are not supported")
	case out.target == "REDIRECT" && out.toPort == 0:
		return out, unsupported("REDIRECT", "needs --to-ports")
	}
	return out, nil
}

func takesValue(tok string) bool {
	switch tok {
	case "-p", "--protocol", "-d", "--destination", "--dport", "--destination-port",
		"-m", "--match", "--uid-owner", "--dports", "--destination-ports",
		"-j", "--jump", "--to-port", "--to-ports":
		return true
	}
	return false
}

// option applies one option with its value. Options of a match or target
// are only known once it is loaded (-p tcp for --dport, -m, -j), as in
// iptables, which calls anything else an unknown option.
func (r *rule) option(tok, val string, user map[string]bool) error {
	var err error
	switch tok {
	case "-p", "--protocol":
		if r.tcp {
			return unsupported(tok, "given twice")
		}
		if val != "tcp" {
			return unsupported(val, "only -p tcp is supported")
		}
		r.tcp = true
	case "-d", "--destination":
		if r.dst.IsValid() {
			return unsupported(tok, "given twice")
		}
		r.dst, err = parseDst(r.fam, val)
	case "--dport", "--destination-port":
		if !r.tcp {
			return unsupported(tok, "needs -p tcp before it")
		}
		m := r.load("tcp")
		if m.set {
			return unsupported(tok, "given twice")
		}
		m.port, err = parsePort(val)
		m.set = true
	case "-m", "--match":
		if val != "owner" && val != "multiport" {
			return unsupported(val, "match not supported")
		}
		if r.find(val) != nil {
			return unsupported(val, "match given twice")
		}
		r.load(val)
	case "--uid-owner":
		m := r.find("owner")
		if m == nil || m.set {
			return unsupported(tok, "needs one -m owner before it")
		}
		var uid uint64
		uid, err = parseUint(val, 32)
		m.uid, m.set = uint32(uid), true
	case "--dports", "--destination-ports":
		m := r.find("multiport")
		if m == nil || m.set {
			return unsupported(tok, "needs one -m multiport before it")
		}
		m.ports, err = parsePorts(val)
		m.set = true
	case "-j", "--jump":
		if r.target != "" {
			return unsupported(tok, "given twice")
		}
		if val != "RETURN" && val != "ACCEPT" && val != "REDIRECT" && !user[val] {
			return unsupported(val, "target not supported")
		}
		r.target = val
	case "--to-port", "--to-ports":
		if r.target != "REDIRECT" || r.toPort != 0 || !r.tcp {
			return unsupported(tok, "needs -p tcp and -j REDIRECT before it, once")
		}
		r.toPort, err = parsePort(val)
	default:
		return unsupported(tok, "option not supported")
	}
	if err != nil {
		return unsupported(val, err.Error())
	}
	return nil
}

func (r *rule) find(name string) *match {
	for i := range r.matches {
		if r.matches[i].name == name {
			return &r.matches[i]
		}
	}
	return nil
}

// load returns the named match, adding it to the rule's list the first
// time: iptables keeps matches in the order they were loaded.
func (r *rule) load(name string) *match {
	if m := r.find(name); m != nil {
		return m
	}
	r.matches = append(r.matches, match{name: name})
	return &r.matches[len(r.matches)-1]
}
