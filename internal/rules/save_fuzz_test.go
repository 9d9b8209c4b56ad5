package rules

import (
	"strings"
	"testing"
)

// saveSeeds are the captures of real iptables-save output, the restore
// documents mesh-cni writes and a few lines the model does not hold.
func saveSeeds(t testing.TB) []string {
	out := readFiles(t, "testdata/save/*.txt", "testdata/apply/*.restore", "testdata/golden/*.restore")
	return append(out,
		"*nat\n:X - [0:0]\n-A OUTPUT -s 10.0.0.1/32 -j X\n-A X -m comment --comment \"a b\" -j RETURN\nCOMMIT\n",
		"*nat\n:OSM_PROXY_OUTBOUND - [0:0]\n-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300\n"+
			"-A OSM_PROXY_OUTBOUND -o lo ! -d ::1/128 -m owner ! --uid-owner 1500-1500 -p 6 -j REDIRECT --to-port 1\nCOMMIT\n",
		"*filter\n-A INPUT -j DROP\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i eth+ -j ACCEPT\nCOMMIT\n")
}

// FuzzParseSave checks that no input makes ParseSave panic, and that
// whatever it reads renders back: each rule the model holds, spelled as
// iptables-save prints it, reads back to that spelling, and so does its
// iptables-restore spelling; the rules read, rendered as a restore
// document, read back (ParseRestore) to the same document; what of ours
// the table holds, and the transaction that removes it, are worked out
// without a panic.
func FuzzParseSave(f *testing.F) {
	for _, s := range saveSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		tbl, err := ParseSave(doc)
		if err != nil {
			return
		}
		held := RuleSet{Family: IPv4, Chains: tbl.chains}
		for chain, rs := range tbl.rules {
			for _, sr := range rs {
				if sr.err != nil {
					continue
				}
				r := sr.rule
				r.Op, r.Chain = Append, chain
				checkReadsBack(t, tbl, r)
				if checkApplicable(RuleSet{Rules: []Rule{r}}) == nil {
					held.Rules = append(held.Rules, r)
				}
			}
		}
		checkDocumentReadsBack(t, held)
		_ = Transaction(tbl, nil)
		_ = Diff(nil, tbl.Ours())
	})
}

// checkReadsBack requires both spellings of r to parse back to r's
// iptables-save spelling.
func checkReadsBack(t *testing.T, tbl SavedTable, r Rule) {
	t.Helper()
	want := r.saved()
	if again := tbl.parseRule(want); again.err != nil || again.rule.saved() != want {
		t.Fatalf("%q, as iptables-save spells it, reads back as %q (%v)", want, again.rule.saved(), again.err)
	}
	line := r.String()
	_, args, _ := strings.Cut(strings.TrimPrefix(line, string(r.Op)+" "), " ")
	if again := tbl.parseRule(args); again.err != nil || again.rule.saved() != want {
		t.Fatalf("%q reads back as %q (%v), want %q", line, again.rule.saved(), again.err, want)
	}
}

// checkDocumentReadsBack renders rs as a restore document and requires
// ParseRestore to read it back to a set rendering the same document.
func checkDocumentReadsBack(t *testing.T, rs RuleSet) {
	t.Helper()
	doc, err := RenderRestore(rs)
	if err != nil {
		t.Fatalf("RenderRestore of rules read from a table: %v", err)
	}
	again, err := ParseRestore(doc, rs.Family)
	if err != nil {
		t.Fatalf("ParseRestore of RenderRestore's document: %v\n%s", err, doc)
	}
	if doc2, err := RenderRestore(again); err != nil || doc2 != doc {
		t.Fatalf("document reads back as another (%v):\n%s\nwas:\n%s", err, doc2, doc)
	}
}
