package apply

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestApplyOverNetlink: with a WireDir, the first Apply on a node compares
// the netlink writer with iptables-nft-restore in scratch namespaces,
// records that they are equal, and writes the new pod's rules over
// netlink. The rules are what iptables-save shows and Verify wants, real
// TCP lands where OSM sends it, the next new pod costs no program at all,
// and applying again changes nothing.
func TestApplyOverNetlink(t *testing.T) {
	requireIptables(t)
	programs := countPrograms(t)
	dir := t.TempDir()
	sets := buildSets(t, trafficConfig(rules.ProfileOSMv0))

	p := newTrafficPod(t)
	p.wireDir = dir
	programs()
	res := p.mustApply(t, sets, "")
	if !res.Netlink || !res.Changed || res.Backend != BackendNFT {
		t.Errorf("Apply = %+v, want the nft backend written over netlink", res)
	}
	got := programs()
	slices.Sort(got)
	if want := []string{"ip6tables-nft-restore", "iptables-nft-restore"}; !slices.Equal(got, want) {
		t.Errorf("the first Apply ran %q, want the comparison's %q", got, want)
	}
	if record := readRecord(t, dir); !strings.HasSuffix(record, "\n"+wireEqual+"\n") {
		t.Errorf("record = %q, want the writers found equal", record)
	}
	if _, err := os.Stat(filepath.Join(dir, WireRecord+".lock")); !os.IsNotExist(err) {
		t.Errorf("the comparison's lock file is left: %v", err)
	}
	mustVerify(t, p.testPod, sets, "")
	p.check(t, trafficProbes(p, rules.ProfileOSMv0))

	next := newPod(t)
	next.wireDir = dir
	programs() // Verify's iptables-save runs
	if res := next.mustApply(t, sets, ""); !res.Netlink {
		t.Errorf("Apply in the next new pod = %+v, want it written over netlink", res)
	}
	if got := programs(); len(got) != 0 {
		t.Errorf("the next new pod's Apply ran %q, want no program", got)
	}
	if res := next.mustApply(t, sets, ""); res.Changed || res.Netlink {
		t.Errorf("Apply again = %+v, want nothing written", res)
	}
	mustVerify(t, next, sets, "")
}

// TestApplyOverNetlinkOnlyWhenEqual: iptables-nft-restore writes whenever
// the record says the writers differ, the set has a shape the netlink
// writer does not encode, or the table is not new; a record of another
// iptables or kernel is compared again.
func TestApplyOverNetlinkOnlyWhenEqual(t *testing.T) {
	requireIptables(t)
	programs := countPrograms(t)
	key, err := wireKey()
	if err != nil {
		t.Fatal(err)
	}
	v0 := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0))
	podIP := rules.DefaultConfig(rules.ProfileOSMv1)
	podIP.NetworkInterfaceExclusions = []string{"eth1"}
	podIP.LocalProxyMode = rules.LocalProxyPodIP
	podIP.PodIPs = []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")}
	v1 := buildSets(t, podIP)
	// REDIRECT of udp is a shape the netlink writer leaves to
	// iptables-nft-restore.
	unencoded := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv1))
	for i := range unencoded {
		unencoded[i].Rules = append(unencoded[i].Rules, rules.Rule{Op: rules.Append, Chain: "OSM_PROXY_OUTBOUND", Proto: rules.ProtoUDP,
			Target: rules.Target{Kind: rules.TargetRedirect, Port: 15001}})
	}
	restores := []string{"ip6tables-nft-restore", "iptables-nft-restore"}
	tests := []struct {
		name   string
		record string
		sets   []rules.RuleSet
		setup  func(*testing.T, *testPod)
		want   []string
		wire   bool
	}{
		{"recorded as different", key + "\ndiffers: test\n", v0, nil, restores, false},
		{"record of another iptables", "other key\nequal\n", v0, nil, restores, true},
		{"osm-v1 in PodIP mode (-o, -i, !, DNAT)", key + "\nequal\n", v1, nil, nil, true},
		{"shape not encoded (udp REDIRECT)", key + "\nequal\n", unencoded, nil, restores, false},
		{"table not new", key + "\nequal\n", v0, func(t *testing.T, p *testPod) {
			for _, fam := range rules.Families {
				p.restore(t, BackendNFT, fam, foreignRules)
			}
		}, []string{"ip6tables-nft-restore", "ip6tables-nft-save", "iptables-nft-restore", "iptables-nft-save"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, WireRecord), []byte(tt.record), 0o600); err != nil {
				t.Fatal(err)
			}
			p := newPod(t)
			p.wireDir = dir
			if tt.setup != nil {
				tt.setup(t, p)
			}
			programs()
			res := p.mustApply(t, tt.sets, "")
			if res.Netlink != tt.wire {
				t.Errorf("Apply = %+v, want Netlink %v", res, tt.wire)
			}
			got := programs()
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Apply ran %q, want %q", got, tt.want)
			}
			mustVerify(t, p, tt.sets, "")
		})
	}
}

func readRecord(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, WireRecord))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWireComparisonFindsADifference: when this node's iptables-nft-restore
// leaves other kernel objects than the netlink writer (here a wrapper
// changes a port on its way in), the comparison records the difference
// and Apply keeps to iptables-restore.
func TestWireComparisonFindsADifference(t *testing.T) {
	requireIptables(t)
	name := "iptables-nft-restore"
	real, err := lookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), name)
	script := "#!/bin/sh\nsed 's/--dport 15010/--dport 15011/' | exec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	useTool(t, name, wrapper)
	dir := t.TempDir()
	p := newPod(t)
	p.wireDir = dir
	if res := p.mustApply(t, buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0)), ""); res.Netlink {
		t.Errorf("Apply = %+v, want iptables-restore after the comparison found a difference", res)
	}
	if record := readRecord(t, dir); !strings.Contains(record, "\ndiffers: IPv4: ") {
		t.Errorf("record = %q, want the IPv4 difference", record)
	}
}

// TestWireProbeCoversTheEncodedShapes: the node's comparison is only as
// good as its probe; every kind of token the netlink writer encodes must
// be in each family's probe, in appended and inserted rules.
func TestWireProbeCoversTheEncodedShapes(t *testing.T) {
	for _, fam := range rules.Families {
		probe, err := wireProbe(fam)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range probe.Rules {
			seen[string(r.Op)] = true
			for _, a := range strings.Fields(r.String()) {
				seen[a] = true
			}
		}
		want := []string{"-A", "-I", "-i", "-o", "veth+", "!", "-d", "--dport", "multiport", "owner", "--uid-owner", "REDIRECT", "DNAT", "ACCEPT", "RETURN"}
		if fam == rules.IPv4 {
			// osm-edge's DNS rule, IPv4 only: udp and DNAT to an address and port.
			want = append(want, "udp", fmt.Sprintf("%s:%d", rules.DNSProxyAddr, rules.DNSProxyPort))
		}
		for _, tok := range want {
			if !seen[tok] {
				t.Errorf("%s probe has no %q", fam, tok)
			}
		}
	}
}
