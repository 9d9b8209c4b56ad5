package rules

import (
	"fmt"
	"slices"
	"strings"
)

// savedRule is one rule line of iptables-save: its arguments as printed
// (which iptables-restore reads back, e.g. in a -D line) and parsed.
type savedRule struct {
	raw  string
	spec ruleSpec
}

// SavedTable is the nat table of one family as iptables-save printed it.
type SavedTable struct {
	chains []string               // user-defined chains, in printed order
	rules  map[string][]savedRule // per chain, in live order
}

// ParseSave reads the *nat section of iptables-save output.
func ParseSave(out string) (SavedTable, error) {
	t := SavedTable{rules: map[string][]savedRule{}}
	inNAT := false
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			inNAT = line == "*"+Table
		case !inNAT:
		case line == "COMMIT":
			inNAT = false
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if !isBuiltin(name) {
				t.chains = append(t.chains, name)
			}
		case strings.HasPrefix(line, "-A "):
			chain, raw, _ := strings.Cut(line[3:], " ")
			t.rules[chain] = append(t.rules[chain], savedRule{raw: raw, spec: parseSpec(SplitArgs(raw))})
		default:
			return SavedTable{}, fmt.Errorf("line %d of iptables-save output not understood: %q", n+1, line)
		}
	}
	return t, nil
}

// builtinChains are the nat table's own chains.
var builtinChains = []string{ChainPrerouting, "INPUT", ChainOutput, "POSTROUTING"}

func isBuiltin(chain string) bool { return slices.Contains(builtinChains, chain) }

// Ours is the part of a nat table that is mesh-cni's: our chains with
// their rules, and our rules in PREROUTING and OUTPUT, each in live order
// and spelled canonically.
type Ours map[string][]string

// ours picks mesh-cni's chains and rules out of a table.
func (t SavedTable) Ours() Ours {
	s := Ours{}
	for _, c := range t.chains {
		if isOwned(c) {
			s[c] = canonicals(t.rules[c])
		}
	}
	for _, c := range []string{ChainPrerouting, ChainOutput} {
		for _, r := range t.ourBuiltinRules(c) {
			s[c] = append(s[c], r.spec.String())
		}
	}
	return s
}

// ourBuiltinRules are the rules of a builtin chain that are mesh-cni's.
func (t SavedTable) ourBuiltinRules(chain string) []savedRule {
	var out []savedRule
	for _, r := range t.rules[chain] {
		if isOurs(chain, r.spec) {
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

func canonicals(rs []savedRule) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.spec.String())
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
func isOurs(chain string, s ruleSpec) bool {
	if isOwned(s.jumpTarget()) {
		return true
	}
	if chain != ChainOutput || s.target != "-j DNAT" {
		return false
	}
	for _, o := range s.tgtOpts {
		if o.name == "--to-destination" && first(o.values) == dnsProxyTarget {
			return true
		}
	}
	if first(s.base["-o"].values) != "lo" || s.base["-o"].neg {
		return false
	}
	for _, m := range s.matches {
		if m.name == "owner" {
			return true
		}
	}
	return false
}

// RuleCount is the number of rules in the table, ours and others'.
func (t SavedTable) RuleCount() int {
	n := 0
	for _, rs := range t.rules {
		n += len(rs)
	}
	return n
}
