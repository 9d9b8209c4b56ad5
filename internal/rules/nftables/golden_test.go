package nftables

import (
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestGoldenSetsMatchIptables applies every golden document (osm-v0 and
// osm-v1) both ways in fresh namespaces and requires the same kernel
// objects (Dump) and the same iptables-nft-save text.
func TestGoldenSetsMatchIptables(t *testing.T) {
	requireKernel(t)
	docs := goldenDocs(t)
	accepted := 0
	for _, g := range docs {
		t.Run(g.name, func(t *testing.T) {
			s := parseDoc(t, g.doc, g.fam)
			d := sameAsIptables(t, g.fam, g.doc)
			if n := strings.Count(d, "  rule:"); n != len(s.Rules) {
				t.Errorf("Dump shows %d rules, the document has %d:\n%s", n, len(s.Rules), d)
			}
			if n := strings.Count(d, "\nchain "); n != len(s.Chains)+2 {
				t.Errorf("Dump shows %d chains, want the %d declared plus PREROUTING and OUTPUT:\n%s", n, len(s.Chains), d)
			}
			accepted++
		})
	}
	if accepted != len(docs) || accepted < 11 {
		t.Errorf("%d of %d golden documents written and compared, want all, at least the 5 osm-v0 and 6 osm-v1 ones", accepted, len(docs))
	}
}

// extraDocs exercise shapes the golden documents do not: prefixes that
// need a bitwise mask, bare addresses, host bits, option spellings (the
// tcp match named, protocol numbers),
// matches named in another order, -d with -p, all four builtin chains,
// -I into builtin chains, interfaces and interface prefixes, negations,
// udp, DNAT with and without a port (osm-edge's DNS proxy rule among
// them), and documents without rules.
var extraDocs = []struct {
	name string
	fam  rules.Family
	doc  string
}{
	{"ipv4-shapes", rules.IPv4, `*nat
:MESH_A - [0:0]
:MESH_B - [0:0]
:MESH_C - [0:0]
-A MESH_A -d 10.16.0.0/12 -j RETURN
-A MESH_A -d 10.1.2.3/12 -j RETURN
-A MESH_A -d 192.168.7.9 -j RETURN
-A MESH_A -d 100.64.0.0/10 -j MESH_C
-A MESH_A -d 172.16.0.0/16 -p tcp --dport 80 -j RETURN
-A MESH_A -p tcp -d 172.17.0.0/17 --dport 81 -j ACCEPT
-A MESH_A -m owner --uid-owner 0 -j RETURN
-A MESH_A -m owner --uid-owner 65534 -j ACCEPT
-A MESH_A -p tcp -m owner --uid-owner 7 --dport 82 -j RETURN
-A MESH_A -m owner --uid-owner 8 -p tcp -m multiport --dports 5,6 -j RETURN
-A MESH_A --protocol tcp --destination 10.0.0.0/31 --destination-port 83 --jump RETURN
-A MESH_A -p tcp --match multiport --destination-ports 1,65535 -j MESH_B
-A MESH_A -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -j RETURN
-A MESH_A -p tcp -m tcp --dport 84 -j RETURN
-A MESH_A -p 6 --dport 85 -j RETURN
-A MESH_A -p 17 -j RETURN
-A MESH_B -p tcp -j REDIRECT --to-ports 15001
-I MESH_B -p tcp --dport 9 -j ACCEPT
-A MESH_C -p tcp -j REDIRECT --to-port 65535
-A INPUT -p tcp --dport 22 -j RETURN
-A POSTROUTING -d 10.9.0.0/24 -j ACCEPT
-I OUTPUT -j MESH_A
-I PREROUTING -p tcp -j MESH_B
-I PREROUTING -d 10.0.0.1/32 -j ACCEPT
-I OUTPUT -p tcp --dport 1 -j RETURN
COMMIT
`},
	{"ipv6-shapes", rules.IPv6, `*nat
:MESH_A - [0:0]
:MESH_B - [0:0]
-A MESH_A -d 2001:db8::/33 -j RETURN
-A MESH_A -d 2001:db8:1:2::1 -j RETURN
-A MESH_A -d fd00::/7 -j RETURN
-A MESH_A -d 2001:db8:ffff::1/127 -j RETURN
-A MESH_A -d 2001:db8::/64 -p tcp --dport 80 -j RETURN
-A MESH_A -p tcp -m owner --uid-owner 7 --dport 82 -j RETURN
-A MESH_A -p tcp -m multiport --dports 443,8443 -j MESH_B
-A MESH_B -p tcp -j REDIRECT --to-ports 15001
-A POSTROUTING -d ::1/128 -j ACCEPT
-A INPUT -j ACCEPT
-I OUTPUT -j MESH_A
COMMIT
`},
	{"osm-v1-shapes", rules.IPv4, `*nat
:MESH_A - [0:0]
:MESH_B - [0:0]
:MESH_IN - [0:0]
-A MESH_A -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j MESH_B
-A MESH_A -o lo -m owner ! --uid-owner 1500 -j RETURN
-A MESH_A --out-interface veth+ -j RETURN
-A MESH_A ! --destination 10.1.0.0/20 -p udp --dport 53 -j ACCEPT
-A MESH_A -p udp -m multiport --dports 53,5353 -j RETURN
-A MESH_A -p udp -j RETURN
-A MESH_B -p tcp -j REDIRECT --to-ports 15003
-A MESH_IN -i eth1 -p tcp -j RETURN
-A MESH_IN --in-interface eth+ -j MESH_B
-I PREROUTING -p tcp -j MESH_IN
-A POSTROUTING -o eth2 -j RETURN
-A OUTPUT -p udp -d 127.0.0.153/32 --dport 53 -j DNAT --to-destination 127.0.0.153:5300
-A OUTPUT -p tcp -d 10.0.0.9 --dport 80 -j DNAT --to-destination 10.0.0.10:8080
-I OUTPUT -p tcp -o lo -d 127.0.0.1/32 -m owner --uid-owner 1500 -j DNAT --to-destination 10.244.0.7
-A OUTPUT -j MESH_A
COMMIT
`},
	{"osm-v1-shapes-ipv6", rules.IPv6, `*nat
:MESH_A - [0:0]
-A MESH_A -o lo ! -d ::1/128 -m owner --uid-owner 1500 -j RETURN
-A MESH_A -o lo -m owner ! --uid-owner 1500 -j RETURN
-A MESH_A ! -d fd00::/7 -o eth+ -j RETURN
-A MESH_A -p udp --dport 53 -j RETURN
-I OUTPUT -p tcp -o lo -d ::1/128 -m owner --uid-owner 1500 -j DNAT --to-destination fd00:10:244::7
-A OUTPUT -j DNAT --to-destination fd00::53
-A OUTPUT -j MESH_A
-A PREROUTING -i eth1 -p tcp -j RETURN
-A POSTROUTING -o eth2 -j RETURN
COMMIT
`},
	{"chains-only", rules.IPv4, "*nat\n:MESH_A - [0:0]\n:MESH_B - [0:0]\nCOMMIT\n"},
	{"chains-only-ipv6", rules.IPv6, "*nat\n:MESH_A - [0:0]\nCOMMIT\n"},
	{"nothing", rules.IPv4, "*nat\nCOMMIT\n"},
}

// TestExtraShapesMatchIptables compares Write with iptables-nft-restore
// on the extra documents.
func TestExtraShapesMatchIptables(t *testing.T) {
	requireKernel(t)
	for _, x := range extraDocs {
		t.Run(x.name, func(t *testing.T) {
			d := sameAsIptables(t, x.fam, x.doc)
			s := parseDoc(t, x.doc, x.fam)
			if n := strings.Count(d, "  rule:"); n != len(s.Rules) {
				t.Errorf("Dump shows %d rules, the document has %d:\n%s", n, len(s.Rules), d)
			}
		})
	}
}
