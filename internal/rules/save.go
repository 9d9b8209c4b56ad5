package rules

import (
	"fmt"
	"slices"
	"strings"
)

// savedRule is one rule line of iptables-save: its arguments as printed
// (which iptables-restore reads back, e.g. in a -D line) and, where the
// model can hold it, parsed. A rule it cannot (another tool's, in a
// builtin chain or, put there by hand, in ours) is known by its text and
// the chain it jumps to, if any.
type savedRule struct {
	raw  string
	rule Rule
	err  error
	jump string
}

// spelled is the rule's arguments as compared with a wanted set's: the
// model's printed spelling, which is iptables-save's own for every rule
// the model holds, or the text as printed.
func (r savedRule) spelled() string {
	if r.err != nil {
		return r.raw
	}
	return r.rule.saved()
}

// SavedTable is the nat table of one family as iptables-save printed it.
type SavedTable struct {
	chains []string               // user-defined chains, in printed order
	rules  map[string][]savedRule // per chain, in live order
}

// ParseSave reads the *nat section of iptables-save output. A rule the
// model cannot hold is kept by its text (savedRule), not refused: the
// table is someone else's too.
func ParseSave(out string) (SavedTable, error) {
	t := SavedTable{rules: map[string][]savedRule{}}
	err := scanNAT(out, func(name string) {
		t.chains = append(t.chains, name)
	}, func(op Op, chain, raw string) error {
		if op != Append {
			return fmt.Errorf("%s in iptables-save output", op)
		}
		t.rules[chain] = append(t.rules[chain], t.parseRule(raw))
		return nil
	})
	if err != nil {
		return SavedTable{}, fmt.Errorf("iptables-save output: %w", err)
	}
	return t, nil
}

// ParseRestore reads the *nat section of an iptables-restore document for
// one family into a rule set: its user chains as declared and its -A and
// -I rules in order, each of which the model must hold; a rule may jump
// to the chains declared before it.
func ParseRestore(doc string, fam Family) (RuleSet, error) {
	rs := RuleSet{Family: fam}
	err := scanNAT(doc, func(name string) {
		rs.Chains = append(rs.Chains, name)
	}, func(op Op, chain, raw string) error {
		r, err := parseArgs(SplitArgs(raw), func(c string) bool { return slices.Contains(rs.Chains, c) })
		if err != nil {
			return fmt.Errorf("%s %s %s: %w", op, chain, raw, err)
		}
		r.Op, r.Chain = op, chain
		rs.Rules = append(rs.Rules, r)
		return nil
	})
	return rs, err
}

// scanNAT reads the *nat section of an iptables-save or -restore
// document: chain is called for each user chain declared (":NAME ..."),
// rule for each -A or -I line with its arguments as written. Comments,
// blank lines and other tables are skipped; anything else is an error
// naming the line.
func scanNAT(doc string, chain func(name string), rule func(op Op, chain, raw string) error) error {
	inNAT := false
	for n, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		op, rest, isRule := strings.Cut(line, " ")
		var err error
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			inNAT = line == "*"+Table
		case !inNAT:
		case line == "COMMIT":
			inNAT = false
		case strings.HasPrefix(line, ":"):
			if name, _, _ := strings.Cut(line[1:], " "); !isBuiltin(name) {
				chain(name)
			}
		case isRule && (Op(op) == Append || Op(op) == Insert):
			name, raw, _ := strings.Cut(rest, " ")
			err = rule(Op(op), name, raw)
		default:
			err = fmt.Errorf("not understood")
		}
		if err != nil {
			return fmt.Errorf("line %d (%q): %w", n+1, line, err)
		}
	}
	return nil
}

// parseRule reads one rule line's arguments, jumps being to the chains
// printed before it (iptables-save prints every chain before any rule).
func (t SavedTable) parseRule(raw string) savedRule {
	args := SplitArgs(raw)
	r, err := parseArgs(args, func(c string) bool { return slices.Contains(t.chains, c) })
	sr := savedRule{raw: raw, rule: r, err: err, jump: r.Target.Chain}
	if err != nil {
		sr.jump = jumpOf(args)
	}
	return sr
}

// jumpOf is the chain a rule the model cannot hold jumps or goes to, ""
// for none: what makes such a rule in a builtin chain ours (a jump into
// one of our chains, which must go before the chain can).
func jumpOf(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-j", "--jump", "-g", "--goto":
			return args[i+1]
		}
	}
	return ""
}

// builtinChains are the nat table's own chains.
var builtinChains = []string{ChainPrerouting, "INPUT", ChainOutput, "POSTROUTING"}

func isBuiltin(chain string) bool { return slices.Contains(builtinChains, chain) }

// Ours is the part of a nat table that is mesh-cni's: our chains with
// their rules, and our rules in PREROUTING and OUTPUT, each in live order
// and spelled as iptables-save prints them (savedRule.spelled).
type Ours map[string][]string

// ours picks mesh-cni's chains and rules out of a table.
func (t SavedTable) Ours() Ours {
	s := Ours{}
	for _, c := range t.chains {
		if isOwned(c) {
			s[c] = spellings(t.rules[c])
		}
	}
	for _, c := range []string{ChainPrerouting, ChainOutput} {
		for _, r := range t.ourBuiltinRules(c) {
			s[c] = append(s[c], r.spelled())
		}
	}
	return s
}

// ourBuiltinRules are the rules of a builtin chain that are mesh-cni's.
func (t SavedTable) ourBuiltinRules(chain string) []savedRule {
	var out []savedRule
	for _, r := range t.rules[chain] {
		if isOurs(chain, r) {
			out = append(out, r)
		}
	}
	return out
}

// ownedChains lists our chains present in the table.
func (t SavedTable) ownedChains() []string {
	var out []string
	for _, c := range t.chains {
		if isOwned(c) {
			out = append(out, c)
		}
	}
	return out
}

func spellings(rs []savedRule) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.spelled())
	}
	return out
}

// isOwned says whether a chain is one of OwnedChains, without building
// that list: it is asked for every chain and rule Apply looks at.
func isOwned(chain string) bool {
	for _, p := range Profiles {
		c := profileChains(p)
		if chain == c.inbound || chain == c.inRedirect || chain == c.outbound || chain == c.outRedirect {
			return true
		}
	}
	return false
}

// isOurs says whether a rule in a builtin chain is mesh-cni's: a jump into
// one of our chains, osm-v1's PodIP-mode DNAT of the proxy's loopback
// traffic, or osm-edge's DNAT of lookups to its DNS proxy (the only rules
// of ours with a builtin target; nothing else in a pod sends uid-matched
// loopback traffic, or anything, to 127.0.0.153:5300).
func isOurs(chain string, sr savedRule) bool {
	if isOwned(sr.jump) {
		return true
	}
	r := sr.rule
	if sr.err != nil || chain != ChainOutput || r.Target.Kind != TargetDNAT {
		return false
	}
	if r.Target.Addr == dnsProxyAddr() && r.Target.Port == DNSProxyPort {
		return true
	}
	return r.Out == "lo" && slices.ContainsFunc(r.Matches, func(m Match) bool { return m.Kind == MatchOwner })
}

// RuleCount is the number of rules in the table, ours and others'.
func (t SavedTable) RuleCount() int {
	n := 0
	for _, rs := range t.rules {
		n += len(rs)
	}
	return n
}

// SplitArgs splits a rule line of iptables-save (or iptables -S) into its
// arguments, honouring the double quotes iptables puts around values with
// spaces (comments) and the backslash escapes inside them.
func SplitArgs(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case (c == ' ' || c == '\t') && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}
