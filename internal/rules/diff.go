package rules

import (
	"fmt"
	"slices"
)

// wantState is what a rule set leaves in the table: -A appends, -I puts
// the rule at the top of its chain (so the live order of several -I is the
// reverse of the written one).
func wantState(rs RuleSet) Ours {
	s := Ours{}
	for _, c := range rs.Chains {
		s[c] = []string{}
	}
	for _, r := range rs.Rules {
		c := r.saved()
		if r.Op == Insert {
			s[r.Chain] = append([]string{c}, s[r.Chain]...)
		} else {
			s[r.Chain] = append(s[r.Chain], c)
		}
	}
	return s
}

// diff lists how have differs from want, one line per difference, in
// chain order; empty when they are the same.
func diff(want, have Ours) []string {
	chains := make([]string, 0, len(want)+len(have))
	for c := range want {
		chains = append(chains, c)
	}
	for c := range have {
		if _, ok := want[c]; !ok {
			chains = append(chains, c)
		}
	}
	slices.Sort(chains)
	var out []string
	for _, c := range chains {
		w, wok := want[c]
		h, hok := have[c]
		builtin := isBuiltin(c)
		switch {
		case !builtin && wok && !hok:
			out = append(out, "missing chain "+c)
		case !builtin && !wok && hok:
			out = append(out, "extra chain "+c)
		}
		out = append(out, diffRules(c, w, h)...)
	}
	return out
}

// diffRules compares one chain's rules: the lines missing and extra, or,
// when both hold the same lines, that their order differs.
func diffRules(chain string, want, have []string) []string {
	var out []string
	extra := slices.Clone(have)
	for _, w := range want {
		if i := slices.Index(extra, w); i >= 0 {
			extra = slices.Delete(extra, i, i+1)
		} else {
			out = append(out, "missing rule: -A "+chain+" "+w)
		}
	}
	for _, e := range extra {
		out = append(out, "extra rule: -A "+chain+" "+e)
	}
	if len(out) == 0 && !slices.Equal(want, have) {
		out = append(out, fmt.Sprintf("rules of %s in another order: want %q, have %q", chain, want, have))
	}
	return out
}
