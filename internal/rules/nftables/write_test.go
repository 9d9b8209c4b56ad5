package nftables

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/netns"
	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

func goldenSet(t testing.TB, name string, fam rules.Family) rules.RuleSet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name+".restore"))
	if err != nil {
		t.Fatal(err)
	}
	return parseDoc(t, string(b), fam)
}

// TestWriteExistingChainFailsAtomically: a namespace whose nat table
// already has one of the chains refuses the whole batch with EEXIST,
// naming that chain, and keeps exactly what it had - not even the
// chains declared before the failing one.
func TestWriteExistingChainFailsAtomically(t *testing.T) {
	requireKernel(t)
	ns := netns.New(t)
	ns.Run(t, "iptables-nft", "-t", "nat", "-N", "PROXY_OUTPUT")
	ns.Run(t, "iptables-nft", "-t", "nat", "-A", "PROXY_OUTPUT", "-j", "RETURN")
	before := dump(t, ns, rules.IPv4)
	if !strings.Contains(before, "chain PROXY_OUTPUT:") {
		t.Fatalf("setup: no PROXY_OUTPUT in\n%s", before)
	}
	err := write(ns, goldenSet(t, "v0-default", rules.IPv4))
	if !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "chain PROXY_OUTPUT ") {
		t.Fatalf("Write = %v, want EEXIST naming chain PROXY_OUTPUT", err)
	}
	if after := dump(t, ns, rules.IPv4); after != before {
		t.Errorf("the failed Write changed the namespace:\n%s", lineDiff(before, after))
	}
}

// TestWriteNamesTheRuleTheKernelRefuses: REDIRECT is not allowed in the
// INPUT hook; the kernel refuses the rule itself, and the error names it.
// The builtin chain created in the same batch is gone with it.
func TestWriteNamesTheRuleTheKernelRefuses(t *testing.T) {
	requireKernel(t)
	ns := netns.New(t)
	s := parseDoc(t, "*nat\n:MESH - [0:0]\n-A MESH -j RETURN\n-A INPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n", rules.IPv4)
	if err := Check(&s); err != nil {
		t.Fatalf("Check: %v", err)
	}
	err := write(ns, s)
	if err == nil || !strings.Contains(err.Error(), "rule 2 (-A INPUT -p tcp -j REDIRECT --to-port 15001)") {
		t.Fatalf("Write = %v, want an error naming rule 2", err)
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		t.Errorf("Write's error %v does not carry the kernel's errno", err)
	}
	if d := dump(t, ns, rules.IPv4); d != "" {
		t.Errorf("the failed Write left\n%s", d)
	}
}

// TestDumpWithoutNatTable: no table nat of the family means an empty
// listing and no error, also when other tables and the other family's
// nat table exist.
func TestDumpWithoutNatTable(t *testing.T) {
	requireKernel(t)
	ns := netns.New(t)
	for _, fam := range []rules.Family{rules.IPv4, rules.IPv6} {
		if d := dump(t, ns, fam); d != "" {
			t.Errorf("Dump(%d) of a new namespace = %q, want empty", fam, d)
		}
	}
	ns.Run(t, "iptables-nft", "-t", "filter", "-A", "INPUT", "-j", "ACCEPT")
	if err := write(ns, goldenSet(t, "v0-default", rules.IPv4)); err != nil {
		t.Fatal(err)
	}
	if d := dump(t, ns, rules.IPv6); d != "" {
		t.Errorf("Dump(rules.IPv6) with only rules.IPv4 tables = %q, want empty", d)
	}
	if d := dump(t, ns, rules.IPv4); !strings.HasPrefix(d, "table nat family 4:") || strings.Contains(d, "chain INPUT") {
		t.Errorf("Dump(rules.IPv4) shows something else than table nat:\n%s", d)
	}
}

// TestDumpDiffersWhenRulesDiffer guards the comparisons above against a
// Dump that hides differences: one changed port, one more rule, rules in
// another order each change it.
func TestDumpDiffersWhenRulesDiffer(t *testing.T) {
	requireKernel(t)
	base := goldenSet(t, "v0-default", rules.IPv4)
	variants := map[string]func(s *rules.RuleSet){
		"port": func(s *rules.RuleSet) { s.Rules[0].Target.Port = 15002 },
		"extra": func(s *rules.RuleSet) {
			s.Rules = append(s.Rules, rules.Rule{Op: rules.Append, Chain: "PROXY_OUTPUT", Target: rules.Target{Kind: rules.TargetReturn}})
		},
		"order": func(s *rules.RuleSet) { s.Rules[0], s.Rules[1] = s.Rules[1], s.Rules[0] },
	}
	ns := netns.New(t)
	if err := write(ns, base); err != nil {
		t.Fatal(err)
	}
	want := dump(t, ns, rules.IPv4)
	for name, edit := range variants {
		s := goldenSet(t, "v0-default", rules.IPv4)
		edit(&s)
		other := netns.New(t)
		if err := write(other, s); err != nil {
			t.Fatal(err)
		}
		if dump(t, other, rules.IPv4) == want {
			t.Errorf("%s: Dump does not change when the rules do", name)
		}
	}
}

// TestWriteRefusesWhatCheckRefuses: Write checks first and sends nothing
// for a document Check refuses, not even the chains before the bad rule.
func TestWriteRefusesWhatCheckRefuses(t *testing.T) {
	requireKernel(t)
	ns := netns.New(t)
	s := goldenSet(t, "v1-default", rules.IPv4)
	all := netip.MustParsePrefix("0.0.0.0/0")
	s.Rules = append(s.Rules, rules.Rule{Op: rules.Append, Chain: "OSM_PROXY_OUTBOUND", Dst: rules.Dst{Text: all.String(), Net: all}, Target: rules.Target{Kind: rules.TargetReturn}})
	err := write(ns, s)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"0.0.0.0/0"`) {
		t.Fatalf("Write = %v, want ErrUnsupported naming 0.0.0.0/0", err)
	}
	if d := dump(t, ns, rules.IPv4); d != "" {
		t.Errorf("the refused Write left\n%s", d)
	}
}

// TestDumpIgnoresHandles: the same rules written after a chain came and
// went get other handles and rule positions; Dump must not show them.
func TestDumpIgnoresHandles(t *testing.T) {
	requireKernel(t)
	s := goldenSet(t, "v0-exclusions", rules.IPv4)
	plain, shifted := netns.New(t), netns.New(t)
	for _, args := range [][]string{{"-N", "SCRATCH"}, {"-A", "SCRATCH", "-j", "RETURN"}, {"-F", "SCRATCH"}, {"-X", "SCRATCH"}} {
		shifted.Run(t, "iptables-nft", append([]string{"-t", "nat"}, args...)...)
	}
	for _, ns := range []*netns.NS{plain, shifted} {
		if err := write(ns, s); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := dump(t, plain, rules.IPv4), dump(t, shifted, rules.IPv4); a != b {
		t.Errorf("Dump differs with other handles:\n%s", lineDiff(a, b))
	}
}

// TestWriteAddsToExistingBuiltinChains: where the nat table already has
// OUTPUT with a rule, iptables-nft-restore --noflush adds its rules after
// it; Write, which sends the chain again without EXCL, must leave the
// same objects.
func TestWriteAddsToExistingBuiltinChains(t *testing.T) {
	requireKernel(t)
	s := goldenSet(t, "v0-default", rules.IPv4)
	ipt, ours := netns.New(t), netns.New(t)
	for _, ns := range []*netns.NS{ipt, ours} {
		ns.Run(t, "iptables-nft", "-t", "nat", "-A", "OUTPUT", "-d", "10.1.1.1", "-j", "ACCEPT")
	}
	doc, err := os.ReadFile(filepath.Join(goldenDir, "v0-default.restore"))
	if err != nil {
		t.Fatal(err)
	}
	restore(t, ipt, rules.IPv4, string(doc))
	if err := write(ours, s); err != nil {
		t.Fatalf("Write: %v", err)
	}
	want, got := dump(t, ipt, rules.IPv4), dump(t, ours, rules.IPv4)
	if got != want {
		t.Errorf("Dump differs:\n%s", lineDiff(want, got))
	}
	if n := strings.Count(got, "  rule:"); n != len(s.Rules)+1 {
		t.Errorf("Dump shows %d rules, want the document's %d and the one before:\n%s", n, len(s.Rules), got)
	}
}

// TestHasNATTable: no, no in a new namespace; after an rules.IPv4 nat table is
// made (by iptables, whose tables HasNATTable must see too), yes for rules.IPv4
// only; a filter table is not a nat table; an unknown family is an error,
// not a "no".
func TestHasNATTable(t *testing.T) {
	requireKernel(t)
	ns := netns.New(t)
	has := func(fam rules.Family) (ok bool) {
		t.Helper()
		if err := ns.Do(func() (err error) { ok, err = HasNATTable(fam); return err }); err != nil {
			t.Fatalf("HasNATTable(%d): %v", fam, err)
		}
		return ok
	}
	if has(rules.IPv4) || has(rules.IPv6) {
		t.Errorf("a new namespace has a nat table: %v/%v", has(rules.IPv4), has(rules.IPv6))
	}
	ns.Run(t, "ip6tables-nft", "-t", "filter", "-A", "INPUT", "-j", "ACCEPT")
	ns.Run(t, "iptables-nft", "-t", "nat", "-N", "SCRATCH")
	if !has(rules.IPv4) || has(rules.IPv6) {
		t.Errorf("with nat rules.IPv4 and filter rules.IPv6 tables: HasNATTable = %v/%v, want true/false", has(rules.IPv4), has(rules.IPv6))
	}
	if _, err := HasNATTable(5); err == nil {
		t.Error("HasNATTable(5) gave no error")
	}
}
