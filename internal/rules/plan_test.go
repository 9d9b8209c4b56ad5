package rules

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestTransaction checks the one restore document Apply writes for a table
// read from a real capture, against golden files in testdata/apply/
// (rewritten with -update): our jumps deleted by their printed spelling,
// every chain of ours emptied, stale ones deleted, the new set written.
func TestTransaction(t *testing.T) {
	v1x := saveCases()[3].cfg
	tests := []struct {
		name string
		from string // capture in testdata/save/, "" for an empty table
		want *Config
	}{
		{"fresh-to-v0", "", ptr(DefaultConfig(ProfileOSMv0))},
		{"v0-to-v1", "v0-exclusions", ptr(DefaultConfig(ProfileOSMv1))},
		{"v1-to-v1-everything", "v1-default", &v1x},
		{"podip-removed", "v1-podip", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tbl SavedTable
			if tt.from != "" {
				tbl = readCapture(t, savePath(tt.from, "nft", IPv4))
			}
			var want *RuleSet
			if tt.want != nil {
				rs := mustBuild(t, *tt.want, IPv4)
				want = &rs
			}
			got := Transaction(tbl, want)
			path := filepath.Join("testdata", "apply", tt.name+".restore")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(golden) {
				t.Errorf("transaction differs from %s (rerun with -update to accept):\n%s", path, got)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestIsOwned: isOwned answers for OwnedChains without building the list,
// so the two must agree.
func TestIsOwned(t *testing.T) {
	for _, c := range OwnedChains() {
		if !isOwned(c) {
			t.Errorf("isOwned(%q) = false; it is in OwnedChains", c)
		}
	}
	for _, c := range append(slices.Clone(builtinChains), "", "PROXY", "OSM_PROXY_INBOUND2", "KUBE-SERVICES") {
		if isOwned(c) {
			t.Errorf("isOwned(%q) = true; it is not in OwnedChains %q", c, OwnedChains())
		}
	}
}

// TestUnchanged: unchanged answers for an empty table without diff; its
// answer must be diff's, for every golden rule set and for odd ones.
func TestUnchanged(t *testing.T) {
	sets := []*RuleSet{nil, {}, {Chains: []string{ChainOutput}}, {Chains: []string{"PROXY_OUTPUT"}},
		{Rules: []Rule{{Op: Append, Chain: ChainOutput, Target: jump("PROXY_OUTPUT")}}}}
	for _, gc := range goldenCases() {
		rs := mustBuild(t, gc.cfg(), gc.fam)
		sets = append(sets, &rs)
	}
	haves := []Ours{{}}
	for _, rs := range sets[1:] {
		haves = append(haves, wantState(*rs))
	}
	for i, want := range sets {
		for j, had := range haves {
			if got, ref := Unchanged(want, had), len(diff(wantOf(want), had)) == 0; got != ref {
				t.Errorf("set %d over state %d: unchanged = %v, diff says %v", i, j, got, ref)
			}
		}
	}
}
