package nftables

import (
	"errors"
	"strings"
	"testing"
)

// refusedGolden are the golden documents Check must refuse, with the
// token of the first rule it cannot encode. Every other document must be
// accepted and written exactly as iptables-nft-restore writes it.
var refusedGolden = map[string]string{
	"v1-default":                   "-o",
	"v1-default-ipv6":              "-o",
	"v1-everything":                "-i",
	"v1-everything-ipv6":           "-i",
	"v1-inclusions-ipv4-only-ipv6": "-o",
	"v1-podip-dualstack-ipv6":      "-o",
}

// TestGoldenSetsMatchIptables applies every golden document both ways in
// fresh namespaces and requires the same kernel objects (Dump) and the
// same iptables-nft-save text; the documents Check refuses must be
// refused naming the rule and its unsupported token.
func TestGoldenSetsMatchIptables(t *testing.T) {
	requireKernel(t)
	accepted := 0
	for _, g := range goldenDocs(t) {
		t.Run(g.name, func(t *testing.T) {
			s := parseDoc(t, g.doc, g.fam)
			if tok, refused := refusedGolden[g.name]; refused {
				err := Check(s)
				if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"`+tok+`"`) {
					t.Fatalf("Check = %v, want ErrUnsupported naming %q", err, tok)
				}
				return
			}
			if strings.HasPrefix(g.name, "v1-") {
				t.Fatalf("osm-v1 document accepted: update refusedGolden if the encoder learnt its shapes")
			}
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
	if accepted < 5 {
		t.Errorf("%d golden documents written and compared, want at least the 5 osm-v0 ones", accepted)
	}
}

// extraDocs exercise shapes the golden documents do not: prefixes that
// need a bitwise mask, bare addresses, host bits, option spellings,
// matches named in another order, -d with -p, all four builtin chains,
// -I into builtin chains, and documents without rules.
var extraDocs = []struct {
	name string
	fam  Family
	doc  string
}{
	{"ipv4-shapes", IPv4, `*nat
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
	{"ipv6-shapes", IPv6, `*nat
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
	{"chains-only", IPv4, "*nat\n:MESH_A - [0:0]\n:MESH_B - [0:0]\nCOMMIT\n"},
	{"chains-only-ipv6", IPv6, "*nat\n:MESH_A - [0:0]\nCOMMIT\n"},
	{"nothing", IPv4, "*nat\nCOMMIT\n"},
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
