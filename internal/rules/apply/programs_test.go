package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// programSet is a node's iptables installation: the programs in its
// directory, each a link to the multi-call binary of a backend.
type programSet map[string]Backend

// namedPrograms are the save and restore programs with a backend in their
// name, for the families given.
func namedPrograms(b Backend, fams ...rules.Family) programSet {
	ps := programSet{}
	for _, fam := range fams {
		for _, tl := range []tool{toolSave, toolRestore} {
			ps[fmt.Sprintf("%s-%s-%s", fam.Iptables(), b, tl)] = b
		}
	}
	return ps
}

// plainPrograms are iptables-save and the others without a backend in
// their name, linked to backend b, as the alternatives system leaves them.
func plainPrograms(b Backend) programSet {
	ps := programSet{}
	for _, fam := range rules.Families {
		for _, tl := range []tool{toolSave, toolRestore} {
			ps[command(fam, tl)] = b
		}
	}
	return ps
}

func union(sets ...programSet) programSet {
	ps := programSet{}
	for _, s := range sets {
		for name, b := range s {
			ps[name] = b
		}
	}
	return ps
}

// usePrograms makes a directory holding only the programs of ps, as links
// to this host's multi-call binaries, the only place the package looks for
// iptables programs until the test ends, and returns it. The programs
// found before are forgotten, then and at the end. Not for parallel tests:
// the lookup is the package's.
func usePrograms(t *testing.T, ps programSet) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range ps {
		multi, err := lookPath("xtables-" + string(b) + "-multi")
		if err != nil {
			t.Fatalf("xtables-%s-multi: %v", b, err)
		}
		if err := os.Symlink(multi, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	saved := programDirs
	programDirs = func() []string { return []string{dir} }
	toolPaths.Clear()
	t.Cleanup(func() {
		programDirs = saved
		toolPaths.Clear()
	})
	return dir
}

// holdsOurs says whether the pod's nat table of backend b and family fam
// holds chains or rules of ours, read with the host's programs.
func (p *testPod) holdsOurs(t *testing.T, b Backend, fam rules.Family) bool {
	t.Helper()
	tab, err := rules.ParseSave(p.save(t, b, fam))
	if err != nil {
		t.Fatal(err)
	}
	return len(tab.Ours()) > 0
}

// TestBackendFromPrograms gives a new pod's namespace the backend whose
// programs the node has: legacy where only legacy is installed (with or
// without the plain iptables-save names), nft where only nft is, nft
// where both are. The rules must be in that backend's table and nowhere
// else, Verify (CNI CHECK) must find them, and CheckInstalled (CNI STATUS)
// must say ready.
func TestBackendFromPrograms(t *testing.T) {
	requireIptables(t)
	legacy := namedPrograms(BackendLegacy, rules.Families...)
	nft := namedPrograms(BackendNFT, rules.Families...)
	tests := []struct {
		name     string
		programs programSet
		want     Backend
	}{
		{"legacy named and plain", union(legacy, plainPrograms(BackendLegacy)), BackendLegacy},
		{"legacy named only", legacy, BackendLegacy},
		{"legacy plain only", plainPrograms(BackendLegacy), BackendLegacy},
		{"nft only", union(nft, plainPrograms(BackendNFT)), BackendNFT},
		{"both, plain names nft", union(legacy, nft, plainPrograms(BackendNFT)), BackendNFT},
		{"both, plain names legacy", union(legacy, nft, plainPrograms(BackendLegacy)), BackendNFT},
	}
	sets := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usePrograms(t, tt.programs)
			if err := CheckInstalled(); err != nil {
				t.Errorf("CheckInstalled: %v", err)
			}
			p := newPod(t)
			res := p.mustApply(t, sets, "")
			if res.Backend != tt.want || !res.Changed {
				t.Errorf("Apply = %+v, want backend %s, changed", res, tt.want)
			}
			for _, b := range []Backend{BackendNFT, BackendLegacy} {
				for _, fam := range rules.Families {
					if got := p.holdsOurs(t, b, fam); got != (b == tt.want) {
						t.Errorf("%s %s holds rules of ours: %v, want %v", b, fam, got, b == tt.want)
					}
				}
			}
			mustVerify(t, p, sets, "")
		})
	}
}

// TestLegacyOnlyTraffic proves with real TCP that the rules a legacy-only
// node gives a new pod redirect its traffic as OSM does.
func TestLegacyOnlyTraffic(t *testing.T) {
	requireIptables(t)
	for _, prof := range rules.Profiles {
		t.Run(string(prof), func(t *testing.T) {
			usePrograms(t, union(namedPrograms(BackendLegacy, rules.Families...), plainPrograms(BackendLegacy)))
			p := newTrafficPod(t)
			if res := p.mustApply(t, buildSets(t, trafficConfig(prof)), ""); res.Backend != BackendLegacy {
				t.Fatalf("Apply = %+v, want backend legacy", res)
			}
			p.check(t, trafficProbes(p, prof))
		})
	}
}

// TestProgramsMissing: with no iptables program at all, CheckInstalled
// (CNI STATUS) is not ready and Apply fails, both naming the programs and
// the directory; with IPv4's legacy programs only, STATUS is ready and
// only a pod that needs IPv6 fails. A failed Apply leaves nothing behind.
func TestProgramsMissing(t *testing.T) {
	requireIptables(t)
	v1 := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
	tests := []struct {
		name      string
		programs  programSet
		sets      []rules.RuleSet
		statusErr []string // nil: ready
		applyErr  []string // nil: Apply succeeds with legacy
	}{
		{"none", programSet{}, v1,
			[]string{"for IPv4 and IPv6", "iptables-nft-save not found (nor iptables-save)", "ip6tables-legacy-restore not found (nor ip6tables-restore)"},
			[]string{"for IPv4 and IPv6", "iptables-legacy-save not found (nor iptables-save)", "ip6tables-nft-restore not found (nor ip6tables-restore)"}},
		{"IPv4 legacy only, IPv4 pod", namedPrograms(BackendLegacy, rules.IPv4), v1[:1], nil, nil},
		{"IPv4 legacy only, dual-stack pod", namedPrograms(BackendLegacy, rules.IPv4), v1, nil,
			[]string{"for IPv4 and IPv6", "legacy: ip6tables-legacy-save not found (nor ip6tables-save), ip6tables-legacy-restore not found"}},
		// nft for IPv4 only; legacy through the plain names for both.
		{"nft IPv4 only, plain names legacy", union(namedPrograms(BackendNFT, rules.IPv4), plainPrograms(BackendLegacy)), v1, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := usePrograms(t, tt.programs)
			where := "(looked in " + dir + ")"
			expect := func(what string, err error, want []string) {
				t.Helper()
				if want == nil {
					if err != nil {
						t.Errorf("%s: %v", what, err)
					}
					return
				}
				if err == nil {
					t.Errorf("%s succeeded, want an error naming %q", what, want)
					return
				}
				for _, w := range append(want, where) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v\nwant it to name %q", what, err, w)
					}
				}
			}
			expect("CheckInstalled", CheckInstalled(), tt.statusErr)
			p := newPod(t)
			res, err := p.apply(tt.sets, "")
			expect("Apply", err, tt.applyErr)
			if err == nil && res.Backend != BackendLegacy {
				t.Errorf("Apply = %+v, want backend legacy", res)
			}
			// Verify fails alike where Apply did.
			expect("Verify", p.verify(tt.sets, ""), tt.applyErr)
			if err != nil {
				for _, b := range []Backend{BackendNFT, BackendLegacy} {
					for _, fam := range rules.Families {
						if p.holdsOurs(t, b, fam) {
							t.Errorf("after the failed Apply, %s %s holds rules of ours", b, fam)
						}
					}
				}
			}
		})
	}
}

// TestToolMode: a link to a multi-call binary is told by the binary's
// name, without running it (on a legacy-only node every ADD asks it of
// iptables-save); anything else by its --version. The scripts answer
// against their names, so a wrong way of asking gives the wrong answer.
func TestToolMode(t *testing.T) {
	dir := t.TempDir()
	script := func(name, version string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+version+"'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path string
		want Backend
	}{
		{link("iptables-save", script("xtables-legacy-multi", "iptables v1.8.9 (nf_tables)")), BackendLegacy},
		{link("ip6tables-save", script("xtables-nft-multi", "ip6tables v1.8.9 (legacy)")), BackendNFT},
		{link("iptables-restore", script("iptables-wrapper", "iptables-restore v1.8.9 (nf_tables)")), BackendNFT},
		{link("ip6tables-save.old", script("xtables-multi", "ip6tables-save v1.8.9 (nf_tables)")), BackendLegacy},
		{script("ip6tables-restore", "ip6tables-restore v1.6.1"), BackendLegacy},
	}
	for _, tt := range tests {
		if got := toolMode(tt.path); got != tt.want {
			t.Errorf("toolMode(%s) = %s, want %s", filepath.Base(tt.path), got, tt.want)
		}
	}
}
