package nftables

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables/xt"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestCheckRefuses: every shape outside the supported ones is refused
// before anything reaches the kernel, naming the token it stopped at:
// by package rules' parser, when the model cannot hold it, or else by
// Check, with ErrUnsupported, naming the rule too.
func TestCheckRefuses(t *testing.T) {
	many := "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"
	tests := []struct {
		fam   rules.Family
		chain string
		args  string
		token string
	}{
		{rules.IPv4, "OUTPUT", "-s 10.0.0.1 -j RETURN", "-s"},
		{rules.IPv4, "OUTPUT", "-m owner --gid-owner 1500 -j RETURN", "--gid-owner"},
		{rules.IPv4, "OUTPUT", "-m owner --uid-owner root -j RETURN", "root"},
		{rules.IPv4, "OUTPUT", "-m owner --uid-owner 4294967296 -j RETURN", "4294967296"},
		{rules.IPv4, "OUTPUT", "! -o lo -j RETURN", "!"},
		{rules.IPv4, "OUTPUT", "! -p tcp -j RETURN", "!"},
		{rules.IPv4, "OUTPUT", "-p tcp ! --dport 80 -j RETURN", "!"},
		{rules.IPv4, "OUTPUT", "-d 1.1.1.1 ! -j RETURN", "!"},
		{rules.IPv4, "OUTPUT", "-j RETURN !", "!"},
		{rules.IPv4, "OUTPUT", "-o lo -o eth0 -j RETURN", "-o"},
		{rules.IPv4, "PREROUTING", "-i + -j RETURN", "+"},
		{rules.IPv4, "PREROUTING", "-i eth/1 -j RETURN", "eth/1"},
		{rules.IPv4, "PREROUTING", "-i 0123456789abcdef -j RETURN", "0123456789abcdef"},
		{rules.IPv4, "PREROUTING", "-o eth0 -j RETURN", "-o"},
		{rules.IPv6, "INPUT", "-o eth0 -j RETURN", "-o"},
		{rules.IPv4, "OUTPUT", "-i eth0 -j RETURN", "-i"},
		{rules.IPv6, "POSTROUTING", "-i eth0 -j RETURN", "-i"},
		{rules.IPv4, "OUTPUT", "-p icmp -j RETURN", "icmp"},
		{rules.IPv4, "OUTPUT", "-p tcp -p udp -j RETURN", "-p"},
		{rules.IPv4, "OUTPUT", "-p udp -j REDIRECT --to-ports 15001", "--to-ports"},
		{rules.IPv4, "OUTPUT", "-j DNAT", "DNAT"},
		{rules.IPv4, "OUTPUT", "-j DNAT --to-destination 10.0.0.1:53", "10.0.0.1:53"},
		{rules.IPv4, "OUTPUT", "-p udp -j DNAT --to-destination 10.0.0.1-10.0.0.5", "10.0.0.1-10.0.0.5"},
		{rules.IPv4, "OUTPUT", "-p udp -j DNAT --to-destination 10.0.0.1:53-54", "10.0.0.1:53-54"},
		{rules.IPv4, "OUTPUT", "-p udp -j DNAT --to-destination fd00::7", "fd00::7"},
		{rules.IPv6, "OUTPUT", "-p udp -j DNAT --to-destination [fd00::7]:53", "[fd00::7]:53"},
		{rules.IPv6, "OUTPUT", "-p udp -j DNAT --to-destination fe80::1%eth0", "fe80::1%eth0"},
		{rules.IPv4, "OUTPUT", "-p udp -j DNAT --to-destination 10.0.0.1 --to-destination 10.0.0.2", "--to-destination"},
		{rules.IPv4, "OUTPUT", "-p udp --to-destination 10.0.0.1 -j DNAT", "--to-destination"},
		{rules.IPv4, "OUTPUT", "-p tcp -j SNAT --to-source 10.0.0.1", "SNAT"},
		{rules.IPv4, "OUTPUT", "-j MASQUERADE", "MASQUERADE"},
		{rules.IPv4, "OUTPUT", "-j DROP", "DROP"},
		{rules.IPv4, "OUTPUT", "-d 0.0.0.0/0 -j RETURN", "0.0.0.0/0"},
		{rules.IPv4, "OUTPUT", "-d fd00::/8 -j RETURN", "fd00::/8"},
		{rules.IPv6, "OUTPUT", "-d 10.0.0.0/8 -j RETURN", "10.0.0.0/8"},
		{rules.IPv4, "OUTPUT", "-d 10.0.0.0/255.0.0.0 -j RETURN", "10.0.0.0/255.0.0.0"},
		{rules.IPv4, "OUTPUT", "-d 1.1.1.1 -d 2.2.2.2 -j RETURN", "-d"},
		{rules.IPv4, "OUTPUT", "--dport 80 -p tcp -j RETURN", "--dport"},
		{rules.IPv4, "OUTPUT", "-p tcp --dport 80:90 -j RETURN", "80:90"},
		{rules.IPv4, "OUTPUT", "-p tcp --dport 010 -j RETURN", "010"},
		{rules.IPv4, "OUTPUT", "-p tcp --dport 0 -j RETURN", "0"},
		{rules.IPv4, "OUTPUT", "-p tcp --dport 80 --dport 81 -j RETURN", "--dport"},
		{rules.IPv4, "OUTPUT", "-p tcp -m multiport --dports " + many + " -j RETURN", many},
		{rules.IPv4, "OUTPUT", "-p tcp -m multiport --dports 1:5 -j RETURN", "1:5"},
		{rules.IPv4, "OUTPUT", "-m multiport --dports 1,2 -j RETURN", "multiport"},
		{rules.IPv4, "OUTPUT", "-p tcp -m multiport --sports 1,2 -j RETURN", "--sports"},
		{rules.IPv4, "OUTPUT", "-m owner -j RETURN", "owner"},
		{rules.IPv4, "OUTPUT", "-m owner --uid-owner 1 -m owner --uid-owner 2 -j RETURN", "owner"},
		{rules.IPv4, "OUTPUT", "--uid-owner 1 -j RETURN", "--uid-owner"},
		{rules.IPv4, "OUTPUT", "-p tcp -j REDIRECT", "REDIRECT"},
		{rules.IPv4, "OUTPUT", "-j REDIRECT --to-ports 15001", "--to-ports"},
		{rules.IPv4, "OUTPUT", "-p tcp -j REDIRECT --to-ports 15001-15002", "15001-15002"},
		{rules.IPv4, "OUTPUT", "-p tcp", "-j"},
		{rules.IPv4, "OUTPUT", "-j RETURN -j ACCEPT", "-j"},
		{rules.IPv4, "OUTPUT", "-j NOWHERE", "NOWHERE"},
		{rules.IPv4, "OUTPUT", "-j", "-j"},
		{rules.IPv4, "NOWHERE", "-j RETURN", "NOWHERE"},
		{rules.IPv4, "FORWARD", "-j RETURN", "FORWARD"},
	}
	for _, tt := range tests {
		line := "-A " + tt.chain + " " + tt.args
		rs, err := rules.ParseRestore("*nat\n:MESH - [0:0]\n-A MESH -j RETURN\n"+line+"\nCOMMIT\n", tt.fam)
		if err != nil {
			if !strings.Contains(err.Error(), tt.token) {
				t.Errorf("parsing %s: %v, want the error to name %q", line, err, tt.token)
			}
			continue
		}
		err = Check(&rs)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"`+tt.token+`"`) ||
			!strings.Contains(err.Error(), "rule 2 ("+rs.Rules[1].String()+")") {
			t.Errorf("Check(%s) = %v, want ErrUnsupported naming rule 2 and %q", line, err, tt.token)
		}
	}
}

// TestCheckRefusesChains: user chain names iptables would refuse, and
// unknown families, are refused too.
func TestCheckRefusesChains(t *testing.T) {
	for _, c := range [][]string{
		{"OUTPUT"}, {"RETURN"}, {"MESH", "MESH"}, {""}, {"-X"}, {strings.Repeat("C", 29)},
	} {
		err := Check(&rules.RuleSet{Family: rules.IPv4, Chains: c})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `chain "`+c[len(c)-1]+`"`) {
			t.Errorf("Check(chains %q) = %v, want ErrUnsupported naming the chain", c, err)
		}
	}
	if err := Check(&rules.RuleSet{Family: 5}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Check(family 5) = %v, want ErrUnsupported", err)
	}
	if err := Check(&rules.RuleSet{Family: rules.IPv6, Chains: []string{strings.Repeat("C", 28)}}); err != nil {
		t.Errorf("Check(28-character chain) = %v", err)
	}
}

// TestInfoStructs pins the xt info blobs to what iptables-nft 1.8.9 was
// seen writing on this (little-endian) machine; the kernel comparisons
// cover them too, this names the struct that broke.
func TestInfoStructs(t *testing.T) {
	if ne.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the observations are from a little-endian machine")
	}
	marshal := func(fam rules.Family, info xt.InfoAny) []byte {
		nf, _ := nfproto(fam)
		b, err := xt.Marshal(xt.TableFamily(nf), 0, info)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dnat := func(fam rules.Family, to string) []byte {
		ap, err := netip.ParseAddrPort(to)
		if err != nil {
			ap = netip.AddrPortFrom(netip.MustParseAddr(to), 0)
		}
		return marshal(fam, dnatInfo(rules.Target{Kind: rules.TargetDNAT, Addr: ap.Addr(), Port: ap.Port()}))
	}
	zeros := func(n int) string { return strings.Repeat("00", n) }
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"owner 1500", ownerInfo(1500, false), "dc050000dc0500000000000000000000" + "0100" + "0000" + "00000000"},
		{"owner ! 1500", ownerInfo(1500, true), "dc050000dc0500000000000000000000" + "0101" + "0000" + "00000000"},
		{"multiport 6379,7070,8080", multiportInfo([]uint16{6379, 7070, 8080}), "0103eb189e1b901f" + zeros(40)},
		{"REDIRECT 15001 rules.IPv4", marshal(rules.IPv4, redirectInfo(rules.IPv4, 15001)), "01000000" + "02000000" + "00000000" + "00000000" + "3a993a99" + "00000000"},
		{"REDIRECT 15001 rules.IPv6", marshal(rules.IPv6, redirectInfo(rules.IPv6, 15001)), "02000000" + zeros(32) + "3a993a99"},
		{"DNAT 10.0.0.7", dnat(rules.IPv4, "10.0.0.7"), "01000000" + "0a000007" + zeros(12) + "0a000007" + zeros(12) + zeros(12)},
		{"DNAT 127.0.0.153:5300", dnat(rules.IPv4, "127.0.0.153:5300"), "03000000" + "7f000099" + zeros(12) + "7f000099" + zeros(12) + "14b414b4" + zeros(8)},
		{"DNAT fd00:10:244::7", dnat(rules.IPv6, "fd00:10:244::7"), "01000000" + "fd000010024400000000000000000007" + "fd000010024400000000000000000007" + zeros(12)},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
