package apply

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// foreignRules stand for rules of someone else (the primary CNI, an
// admin): mesh-cni must leave them exactly as they are.
const foreignRules = "*nat\n-A PREROUTING -p udp -j RETURN\n-A OUTPUT -p udp -j RETURN\nCOMMIT\n"

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// saves is the nat table of both families, counters zeroed.
func (p *testPod) saves(t *testing.T, b Backend) string {
	t.Helper()
	var sb strings.Builder
	for _, fam := range rules.Families {
		sb.WriteString(counters.ReplaceAllString(p.save(t, b, fam), "[0:0]"))
	}
	return sb.String()
}

// ours is what of ours the family's table holds.
func (p *testPod) ours(t *testing.T, b Backend, fam rules.Family) rules.Ours {
	t.Helper()
	tbl, err := rules.ParseSave(p.save(t, b, fam))
	if err != nil {
		t.Fatal(err)
	}
	return tbl.Ours()
}

// TestApplyLifecycle walks one pod namespace through what a node sees:
// first apply, a retried ADD, a profile change, a partial set left by
// someone else, a rule deleted by hand, and the end.
func TestApplyLifecycle(t *testing.T) {
	requireIptables(t)
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			p := newPod(t)
			for _, fam := range rules.Families {
				p.restore(t, b, fam, foreignRules)
			}
			before := p.saves(t, b)
			v0 := buildSets(t, trafficConfig(rules.ProfileOSMv0))
			v1 := buildSets(t, trafficConfig(rules.ProfileOSMv1))

			if res := p.mustApply(t, v0, b); !res.Changed || res.Backend != b {
				t.Fatalf("first Apply = %+v, want changed, backend %s", res, b)
			}
			mustVerify(t, p, v0, b)

			snapshot := p.saves(t, b)
			if res := p.mustApply(t, v0, b); res.Changed {
				t.Errorf("Apply of the same set again: Changed=true, want a no-op")
			}
			if got := p.saves(t, b); got != snapshot {
				t.Errorf("Apply of the same set again changed the table:\n%s\nwas:\n%s", got, snapshot)
			}

			if res := p.mustApply(t, v1, b); !res.Changed {
				t.Errorf("Apply of osm-v1 over osm-v0: Changed=false")
			}
			mustVerify(t, p, v1, b)
			if err := p.verify(v0, b); err == nil {
				t.Errorf("Verify(osm-v0) after osm-v1 replaced it: nil, want an error")
			}
			checkOneJump(t, p, b)

			// A partial, mixed set: a stale v0 chain and its jump, and a
			// second jump into a v1 chain.
			for _, fam := range rules.Families {
				p.restore(t, b, fam, "*nat\n:PROXY_OUTPUT - [0:0]\n-A PROXY_OUTPUT -j RETURN\n-A OUTPUT -p tcp -j PROXY_OUTPUT\n-A OUTPUT -p tcp -j OSM_PROXY_OUTBOUND\nCOMMIT\n")
			}
			if err := p.verify(v1, b); err == nil || !strings.Contains(err.Error(), "extra chain PROXY_OUTPUT") {
				t.Errorf("Verify with a partial set added: %v, want it to name the extra chain", err)
			}
			if res := p.mustApply(t, v1, b); !res.Changed {
				t.Errorf("Apply over a partial set: Changed=false")
			}
			mustVerify(t, p, v1, b)
			checkOneJump(t, p, b)

			p.Run(t, "iptables-"+string(b), "-t", "nat", "-D", "OSM_PROXY_INBOUND", "-p", "tcp", "--dport", "15010", "-j", "RETURN")
			err := p.verify(v1, b)
			if want := "IPv4: missing rule: -A OSM_PROXY_INBOUND -p tcp -m tcp --dport 15010 -j RETURN"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Verify after a rule was deleted: %v, want it to say %q", err, want)
			}
			if res := p.mustApply(t, v1, b); !res.Changed {
				t.Errorf("Apply after a rule was deleted: Changed=false")
			}
			mustVerify(t, p, v1, b)

			for i := 0; i < 2; i++ {
				if err := p.cleanup(b); err != nil {
					t.Fatalf("Cleanup #%d: %v", i+1, err)
				}
				if got := p.saves(t, b); got != before {
					t.Errorf("after Cleanup #%d the nat table is\n%s\nwant it as before:\n%s", i+1, got, before)
				}
			}
			mustVerify(t, p, nil, b)
		})
	}
}

func mustVerify(t *testing.T, p *testPod, sets []rules.RuleSet, b Backend) {
	t.Helper()
	if err := p.verify(sets, b); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// checkOneJump checks each builtin chain jumps into our chains once.
func checkOneJump(t *testing.T, p *testPod, b Backend) {
	t.Helper()
	for _, fam := range rules.Families {
		ours := p.ours(t, b, fam)
		for _, c := range []string{rules.ChainPrerouting, rules.ChainOutput} {
			if len(ours[c]) != 1 {
				t.Errorf("%s %s holds %d rules of ours, want 1: %q", fam, c, len(ours[c]), ours[c])
			}
		}
	}
}

// TestApplyDetectsBackend applies without naming a backend: it must pick
// the one that already holds rules, and prefer nft in a fresh namespace.
func TestApplyDetectsBackend(t *testing.T) {
	requireIptables(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, p *testPod)
		want  Backend
	}{
		{"fresh namespace", func(*testing.T, *testPod) {}, BackendNFT},
		{"legacy holds rules", func(t *testing.T, p *testPod) { p.restore(t, BackendLegacy, rules.IPv4, foreignRules) }, BackendLegacy},
		{"nft holds rules", func(t *testing.T, p *testPod) { p.restore(t, BackendNFT, rules.IPv4, foreignRules) }, BackendNFT},
		{"legacy holds ours, nft more rules", func(t *testing.T, p *testPod) {
			p.mustApply(t, buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0))[:1], BackendLegacy)
			for i := 0; i < 20; i++ {
				p.restore(t, BackendNFT, rules.IPv4, foreignRules)
			}
		}, BackendLegacy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPod(t)
			tt.setup(t, p)
			sets := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
			res := p.mustApply(t, sets, "")
			if res.Backend != tt.want {
				t.Errorf("detected %s, want %s", res.Backend, tt.want)
			}
			mustVerify(t, p, sets, "")
			for _, fam := range rules.Families {
				if o := p.ours(t, other(tt.want), fam); len(o) > 0 {
					t.Errorf("%s %s still holds rules of ours: %v", other(tt.want), fam, o)
				}
			}
		})
	}
}

// TestApplyFailureLeavesNothing makes the IPv6 transaction fail after the
// IPv4 one succeeded: the error names the program and carries its stderr,
// and no chain of ours is left in either family.
func TestApplyFailureLeavesNothing(t *testing.T) {
	requireIptables(t)
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			p := newPod(t)
			p.mustApply(t, buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0)), b)
			bad := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
			// iptables refuses -o in PREROUTING.
			bad[1].Rules = append(bad[1].Rules, rules.Rule{Op: rules.Append, Chain: rules.ChainPrerouting, Out: "eth0", Target: rules.Target{Kind: rules.TargetReturn}})
			_, err := p.apply(bad, b)
			t.Logf("Apply: %v", err)
			want := "ip6tables-restore (" + string(b) + ", IPv6): exit status"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Can't use -o with PREROUTING") {
				t.Errorf("Apply with a bad IPv6 rule: %v, want an error with %q and iptables' message", err, want)
			}
			for _, fam := range rules.Families {
				if o := p.ours(t, b, fam); len(o) > 0 {
					t.Errorf("%s after the failed Apply holds rules of ours: %v", fam, o)
				}
			}
		})
	}
}

// TestApplyRemovesOursFromTheOtherBackend: rules in both backends all take
// effect, so a set left in legacy (an older install) must go when the set
// is applied with nft, and Verify must see it until then.
func TestApplyRemovesOursFromTheOtherBackend(t *testing.T) {
	requireIptables(t)
	p := newPod(t)
	sets := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
	p.mustApply(t, sets, BackendNFT)
	p.restore(t, BackendLegacy, rules.IPv4, "*nat\n:PROXY_OUTPUT - [0:0]\n-A OUTPUT -p tcp -j PROXY_OUTPUT\nCOMMIT\n")
	err := p.verify(sets, BackendNFT)
	if want := "IPv4 (iptables legacy): extra chain PROXY_OUTPUT"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Verify with a legacy chain of ours left: %v, want it to say %q", err, want)
	}
	if res := p.mustApply(t, sets, BackendNFT); !res.Changed {
		t.Errorf("Apply that removed legacy rules: Changed=false")
	}
	mustVerify(t, p, sets, BackendNFT)
	if o := p.ours(t, BackendLegacy, rules.IPv4); len(o) > 0 {
		t.Errorf("legacy still holds rules of ours: %v", o)
	}
}

// TestApplyByPath: with Options.Netns, Apply, Verify and Cleanup act
// in that namespace from a caller that never entered it, as the plugin
// calls them with CNI_NETNS, and leave the caller's namespace alone.
func TestApplyByPath(t *testing.T) {
	requireIptables(t)
	p := newPod(t)
	sets := buildSets(t, trafficConfig(rules.ProfileOSMv0))
	hostBefore := hostNAT(t)
	opts := Options{LockDir: p.lockDir, Backend: BackendNFT, Netns: p.Path}
	if res, err := Apply(sets, opts); err != nil || !res.Changed {
		t.Fatalf("Apply by path = %+v, %v", res, err)
	}
	mustVerify(t, p, sets, BackendNFT)
	if err := Verify(sets, opts); err != nil {
		t.Errorf("Verify by path: %v", err)
	}
	if err := Cleanup(opts); err != nil {
		t.Fatalf("Cleanup by path: %v", err)
	}
	if err := p.verify(nil, BackendNFT); err != nil {
		t.Errorf("after Cleanup by path: %v", err)
	}
	if got := hostNAT(t); got != hostBefore {
		t.Errorf("the caller's namespace changed:\n%s\nwas:\n%s", got, hostBefore)
	}
	if _, err := Apply(sets, Options{LockDir: p.lockDir, Netns: "/nonexistent/netns"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Errorf("Apply in a missing namespace = %v, want an error naming it", err)
	}
}

// hostNAT is the test process's own nat tables (IPv4, both backends),
// without the counters and comments that change by themselves.
func hostNAT(t *testing.T) string {
	t.Helper()
	var out strings.Builder
	for _, tool := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		b, err := exec.Command(tool, "-t", "nat").Output()
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				out.WriteString(counters.ReplaceAllString(l, "") + "\n")
			}
		}
	}
	return out.String()
}

// TestApplyRejectsPlaceholder: a set that still needs the pod's address is
// refused before any namespace is touched (rules.CheckApplicable, which Apply
// uses instead of rendering the set).
func TestApplyRejectsPlaceholder(t *testing.T) {
	rs := rules.RuleSet{Family: rules.IPv4, Chains: []string{"OSM_PROXY_OUTBOUND"}, Rules: []rules.Rule{
		{Op: rules.Append, Chain: rules.ChainOutput, Target: rules.Target{Kind: rules.TargetDNAT}}}}
	_, err := Apply([]rules.RuleSet{rs}, Options{LockDir: t.TempDir()})
	if want := "needs the pod's IPv4 address"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Apply with %s in a rule: %v, want an error saying %q", rules.PodIPPlaceholder, err, want)
	}
}
