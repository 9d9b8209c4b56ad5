package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestApplyPrograms counts the iptables programs Apply runs. A new pod's
// namespace, the common case, must cost exactly one iptables-restore per
// family written and nothing else: no iptables-save before (the tables are
// known missing without a program) nor after (nothing of ours was there to
// replace, so nothing is read back). Where rules of ours were replaced, in
// this backend or the other, the result is still read back.
func TestApplyPrograms(t *testing.T) {
	requireIptables(t)
	programs := countPrograms(t)
	v0 := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0))
	v1 := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
	foreign := func(b Backend) func(*testing.T, *testPod) {
		return func(t *testing.T, p *testPod) {
			for _, fam := range rules.Families {
				p.restore(t, b, fam, foreignRules)
			}
		}
	}
	applied := func(sets []rules.RuleSet, b Backend) func(*testing.T, *testPod) {
		return func(t *testing.T, p *testPod) { p.mustApply(t, sets, b) }
	}
	tests := []struct {
		name    string
		setup   func(*testing.T, *testPod)
		sets    []rules.RuleSet
		backend Backend // "" detects
		want    []string
	}{
		{"fresh namespace, detected backend", nil, v0, "",
			[]string{"ip6tables-nft-restore", "iptables-nft-restore"}},
		{"fresh namespace, legacy", nil, v0, BackendLegacy,
			[]string{"ip6tables-legacy-restore", "iptables-legacy-restore"}},
		{"fresh namespace, IPv4 only", nil, v0[:1], "",
			[]string{"iptables-nft-restore"}},
		// The tables exist and are read, but hold nothing of ours.
		{"foreign rules only", foreign(BackendNFT), v0, BackendNFT,
			[]string{"ip6tables-nft-restore", "ip6tables-nft-save", "iptables-nft-restore", "iptables-nft-save"}},
		{"same set again", applied(v0, BackendNFT), v0, BackendNFT,
			[]string{"ip6tables-nft-save", "iptables-nft-save"}},
		// Read, replaced, read back.
		{"osm-v1 over osm-v0", applied(v0, BackendNFT), v1, BackendNFT,
			[]string{"ip6tables-nft-restore", "ip6tables-nft-save", "ip6tables-nft-save", "iptables-nft-restore", "iptables-nft-save", "iptables-nft-save"}},
		// Legacy read and emptied, nft written and read back.
		{"ours removed from the other backend", applied(v0, BackendLegacy), v1, BackendNFT,
			[]string{"ip6tables-legacy-restore", "ip6tables-legacy-save", "ip6tables-nft-restore", "ip6tables-nft-save",
				"iptables-legacy-restore", "iptables-legacy-save", "iptables-nft-restore", "iptables-nft-save"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod(t)
			if tt.setup != nil {
				tt.setup(t, p)
			}
			programs()
			p.mustApply(t, tt.sets, tt.backend)
			got := programs()
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Apply ran %q, want %q (in any order)", got, tt.want)
			}
			mustVerify(t, p, tt.sets, tt.backend)
		})
	}
}

// countPrograms puts a wrapper in front of every iptables program mesh-cni
// may run, until the test ends; each call of the function it returns gives
// the programs started since the last one. Not for parallel tests: the
// resolved paths are the package's (toolPaths).
func countPrograms(t *testing.T) func() []string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		for _, fam := range rules.Families {
			for _, tl := range []tool{toolSave, toolRestore} {
				name := fmt.Sprintf("%s-%s-%s", fam.Iptables(), b, tl)
				real, err := lookPath(name)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				wrapper := filepath.Join(dir, name)
				script := fmt.Sprintf("#!/bin/sh\necho %s >>'%s'\nexec '%s' \"$@\"\n", name, log, real)
				if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				useTool(t, name, wrapper)
			}
		}
	}
	return func() []string {
		t.Helper()
		b, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := os.Remove(log); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
}

// useTool makes the package run path for the iptables program name until
// the test ends. Not for parallel tests: toolPaths is the package's.
func useTool(t *testing.T, name, path string) {
	t.Helper()
	old, had := toolPaths.Load(name)
	toolPaths.Store(name, path)
	t.Cleanup(func() {
		if had {
			toolPaths.Store(name, old)
		} else {
			toolPaths.Delete(name)
		}
	})
}
