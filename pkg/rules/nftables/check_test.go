package nftables

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/nftables/xt"
)

// TestCheckRefuses: every shape outside the supported ones is refused
// with ErrUnsupported, naming the rule and the token it stopped at.
func TestCheckRefuses(t *testing.T) {
	many := "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"
	tests := []struct {
		fam   Family
		chain string
		args  string
		token string
	}{
		{IPv4, "OUTPUT", "-s 10.0.0.1 -j RETURN", "-s"},
		{IPv4, "OUTPUT", "-m owner --gid-owner 1500 -j RETURN", "--gid-owner"},
		{IPv4, "OUTPUT", "-m owner --uid-owner root -j RETURN", "root"},
		{IPv4, "OUTPUT", "-m owner --uid-owner 4294967296 -j RETURN", "4294967296"},
		{IPv4, "OUTPUT", "! -o lo -j RETURN", "!"},
		{IPv4, "OUTPUT", "! -p tcp -j RETURN", "!"},
		{IPv4, "OUTPUT", "-p tcp ! --dport 80 -j RETURN", "!"},
		{IPv4, "OUTPUT", "-d 1.1.1.1 ! -j RETURN", "!"},
		{IPv4, "OUTPUT", "-j RETURN !", "!"},
		{IPv4, "OUTPUT", "-o lo -o eth0 -j RETURN", "-o"},
		{IPv4, "PREROUTING", "-i + -j RETURN", "+"},
		{IPv4, "PREROUTING", "-i eth/1 -j RETURN", "eth/1"},
		{IPv4, "PREROUTING", "-i 0123456789abcdef -j RETURN", "0123456789abcdef"},
		{IPv4, "PREROUTING", "-o eth0 -j RETURN", "-o"},
		{IPv6, "INPUT", "-o eth0 -j RETURN", "-o"},
		{IPv4, "OUTPUT", "-i eth0 -j RETURN", "-i"},
		{IPv6, "POSTROUTING", "-i eth0 -j RETURN", "-i"},
		{IPv4, "OUTPUT", "-p icmp -j RETURN", "icmp"},
		{IPv4, "OUTPUT", "-p 6 -j RETURN", "6"},
		{IPv4, "OUTPUT", "-p tcp -p udp -j RETURN", "-p"},
		{IPv4, "OUTPUT", "-p udp -j REDIRECT --to-ports 15001", "--to-ports"},
		{IPv4, "OUTPUT", "-j DNAT", "DNAT"},
		{IPv4, "OUTPUT", "-j DNAT --to-destination 10.0.0.1:53", "10.0.0.1:53"},
		{IPv4, "OUTPUT", "-p udp -j DNAT --to-destination 10.0.0.1-10.0.0.5", "10.0.0.1-10.0.0.5"},
		{IPv4, "OUTPUT", "-p udp -j DNAT --to-destination 10.0.0.1:53-54", "10.0.0.1:53-54"},
		{IPv4, "OUTPUT", "-p udp -j DNAT --to-destination fd00::7", "fd00::7"},
		{IPv6, "OUTPUT", "-p udp -j DNAT --to-destination [fd00::7]:53", "[fd00::7]:53"},
		{IPv6, "OUTPUT", "-p udp -j DNAT --to-destination fe80::1%eth0", "fe80::1%eth0"},
		{IPv4, "OUTPUT", "-p udp -j DNAT --to-destination 10.0.0.1 --to-destination 10.0.0.2", "--to-destination"},
		{IPv4, "OUTPUT", "-p udp --to-destination 10.0.0.1 -j DNAT", "--to-destination"},
		{IPv4, "OUTPUT", "-p tcp -j SNAT --to-source 10.0.0.1", "SNAT"},
		{IPv4, "OUTPUT", "-j MASQUERADE", "MASQUERADE"},
		{IPv4, "OUTPUT", "-j DROP", "DROP"},
		{IPv4, "OUTPUT", "-d 0.0.0.0/0 -j RETURN", "0.0.0.0/0"},
		{IPv4, "OUTPUT", "-d fd00::/8 -j RETURN", "fd00::/8"},
		{IPv6, "OUTPUT", "-d 10.0.0.0/8 -j RETURN", "10.0.0.0/8"},
		{IPv4, "OUTPUT", "-d 10.0.0.0/255.0.0.0 -j RETURN", "10.0.0.0/255.0.0.0"},
		{IPv4, "OUTPUT", "-d 1.1.1.1 -d 2.2.2.2 -j RETURN", "-d"},
		{IPv4, "OUTPUT", "--dport 80 -p tcp -j RETURN", "--dport"},
		{IPv4, "OUTPUT", "-p tcp --dport 80:90 -j RETURN", "80:90"},
		{IPv4, "OUTPUT", "-p tcp --dport 010 -j RETURN", "010"},
		{IPv4, "OUTPUT", "-p tcp --dport 0 -j RETURN", "0"},
		{IPv4, "OUTPUT", "-p tcp --dport 80 --dport 81 -j RETURN", "--dport"},
		{IPv4, "OUTPUT", "-p tcp -m tcp --dport 80 -j RETURN", "tcp"},
		{IPv4, "OUTPUT", "-p tcp -m multiport --dports " + many + " -j RETURN", many},
		{IPv4, "OUTPUT", "-p tcp -m multiport --dports 1:5 -j RETURN", "1:5"},
		{IPv4, "OUTPUT", "-m multiport --dports 1,2 -j RETURN", "multiport"},
		{IPv4, "OUTPUT", "-p tcp -m multiport --sports 1,2 -j RETURN", "--sports"},
		{IPv4, "OUTPUT", "-m owner -j RETURN", "owner"},
		{IPv4, "OUTPUT", "-m owner --uid-owner 1 -m owner --uid-owner 2 -j RETURN", "owner"},
		{IPv4, "OUTPUT", "--uid-owner 1 -j RETURN", "--uid-owner"},
		{IPv4, "OUTPUT", "-p tcp -j REDIRECT", "REDIRECT"},
		{IPv4, "OUTPUT", "-j REDIRECT --to-ports 15001", "--to-ports"},
		{IPv4, "OUTPUT", "-p tcp -j REDIRECT --to-ports 15001-15002", "15001-15002"},
		{IPv4, "OUTPUT", "-p tcp", "-j"},
		{IPv4, "OUTPUT", "-j RETURN -j ACCEPT", "-j"},
		{IPv4, "OUTPUT", "-j NOWHERE", "NOWHERE"},
		{IPv4, "OUTPUT", "-j", "-j"},
		{IPv4, "NOWHERE", "-j RETURN", "NOWHERE"},
		{IPv4, "FORWARD", "-j RETURN", "FORWARD"},
	}
	for _, tt := range tests {
		r := Rule{Chain: tt.chain, Args: strings.Fields(tt.args)}
		s := Set{Family: tt.fam, Chains: []string{"MESH"}, Rules: []Rule{{Chain: "MESH", Args: []string{"-j", "RETURN"}}, r}}
		err := Check(s)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"`+tt.token+`"`) ||
			!strings.Contains(err.Error(), "rule 2 ("+r.String()+")") {
			t.Errorf("Check(%s) = %v, want ErrUnsupported naming rule 2 and %q", r, err, tt.token)
		}
	}
}

// TestCheckRefusesChains: user chain names iptables would refuse, and
// unknown families, are refused too.
func TestCheckRefusesChains(t *testing.T) {
	for _, c := range [][]string{
		{"OUTPUT"}, {"RETURN"}, {"MESH", "MESH"}, {""}, {"-X"}, {strings.Repeat("C", 29)},
	} {
		err := Check(Set{Family: IPv4, Chains: c})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `chain "`+c[len(c)-1]+`"`) {
			t.Errorf("Check(chains %q) = %v, want ErrUnsupported naming the chain", c, err)
		}
	}
	if err := Check(Set{Family: 5}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Check(family 5) = %v, want ErrUnsupported", err)
	}
	if err := Check(Set{Family: IPv6, Chains: []string{strings.Repeat("C", 28)}}); err != nil {
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
	marshal := func(fam Family, info xt.InfoAny) []byte {
		nf, _ := fam.nfproto()
		b, err := xt.Marshal(xt.TableFamily(nf), 0, info)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dnat := func(fam Family, to string, proto bool) []byte {
		r := rule{fam: fam}
		var err error
		if r.toAddr, r.toPort, err = parseDNAT(fam, to, proto); err != nil {
			t.Fatal(err)
		}
		return marshal(fam, dnatInfo(r))
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
		{"REDIRECT 15001 IPv4", marshal(IPv4, redirectInfo(IPv4, 15001)), "01000000" + "02000000" + "00000000" + "00000000" + "3a993a99" + "00000000"},
		{"REDIRECT 15001 IPv6", marshal(IPv6, redirectInfo(IPv6, 15001)), "02000000" + zeros(32) + "3a993a99"},
		{"DNAT 10.0.0.7", dnat(IPv4, "10.0.0.7", false), "01000000" + "0a000007" + zeros(12) + "0a000007" + zeros(12) + zeros(12)},
		{"DNAT 127.0.0.153:5300", dnat(IPv4, "127.0.0.153:5300", true), "03000000" + "7f000099" + zeros(12) + "7f000099" + zeros(12) + "14b414b4" + zeros(8)},
		{"DNAT fd00:10:244::7", dnat(IPv6, "fd00:10:244::7", true), "01000000" + "fd000010024400000000000000000007" + "fd000010024400000000000000000007" + zeros(12)},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
