package rules

import (
	"strings"
	"testing"
)

// FuzzParseLists checks that no input makes the list parsers panic and that
// whatever they accept survives rendering: every restore document must be
// well formed (a table line, declared chains, rules, COMMIT) and never hold
// a value that was not accepted.
func FuzzParseLists(f *testing.F) {
	for _, s := range []string{"", "6379, 7070", "1.1.1.1/32, 2.2.2.2/24", "fd00::/8", "::ffff:10.0.0.0/104", "eth0,eth1", ",", "70000", " , ", "1.1.1.1/32,,"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, ports, cidrs, ifaces string) {
		cfg := DefaultConfig(ProfileOSMv1)
		var err error
		if cfg.OutboundPortExclusions, err = ParsePortList(ports); err != nil {
			cfg.OutboundPortExclusions = nil
		}
		if cfg.OutboundIPRangeExclusions, err = ParseCIDRList(cidrs); err != nil {
			cfg.OutboundIPRangeExclusions = nil
		}
		if cfg.OutboundIPRangeInclusions, err = ParseCIDRList(cidrs); err != nil {
			cfg.OutboundIPRangeInclusions = nil
		}
		if cfg.NetworkInterfaceExclusions, err = ParseInterfaceList(ifaces); err != nil {
			cfg.NetworkInterfaceExclusions = nil
		}
		for _, fam := range []Family{IPv4, IPv6} {
			rs, err := Build(cfg, fam)
			if err != nil {
				t.Fatalf("Build rejected parsed values: %v", err)
			}
			doc, err := RenderRestore(rs)
			if err != nil {
				t.Fatal(err)
			}
			checkRestoreShape(t, doc, rs)
			_ = RenderOSMInit(rs)
		}
	})
}

// checkRestoreShape parses a restore document back: one *nat table, the
// chains declared, each rule line naming a known chain with arguments that
// contain no whitespace inside a token, and a final COMMIT.
func checkRestoreShape(t *testing.T, doc string, rs RuleSet) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	if lines[0] != "*nat" || lines[len(lines)-1] != "COMMIT" {
		t.Fatalf("document not framed by *nat/COMMIT:\n%s", doc)
	}
	known := map[string]bool{ChainPrerouting: true, ChainOutput: true}
	body := lines[1 : len(lines)-1]
	for i, c := range rs.Chains {
		if body[i] != ":"+c+" - [0:0]" {
			t.Fatalf("line %d = %q, want the declaration of %s", i+2, body[i], c)
		}
		known[c] = true
	}
	rules := body[len(rs.Chains):]
	if len(rules) != len(rs.Rules) {
		t.Fatalf("%d rule lines, want %d", len(rules), len(rs.Rules))
	}
	for i, line := range rules {
		f := strings.Fields(line)
		if len(f) < 4 || (f[0] != "-A" && f[0] != "-I") || !known[f[1]] {
			t.Fatalf("malformed rule line %q", line)
		}
		if strings.Join(f, " ") != line || rs.Rules[i].String() != line {
			t.Fatalf("rule line %q does not split back into the arguments of %q", line, rs.Rules[i])
		}
	}
}
