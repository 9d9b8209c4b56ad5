package nftables

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
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
		{IPv4, "OUTPUT", "-o lo -j RETURN", "-o"},
		{IPv4, "PREROUTING", "-i eth1 -j RETURN", "-i"},
		{IPv4, "OUTPUT", "-s 10.0.0.1 -j RETURN", "-s"},
		{IPv6, "OUTPUT", "! -d ::1/128 -j RETURN", "!"},
		{IPv4, "OUTPUT", "-m owner ! --uid-owner 1500 -j RETURN", "!"},
		{IPv4, "OUTPUT", "-m owner --gid-owner 1500 -j RETURN", "--gid-owner"},
		{IPv4, "OUTPUT", "-m owner --uid-owner root -j RETURN", "root"},
		{IPv4, "OUTPUT", "-m owner --uid-owner 4294967296 -j RETURN", "4294967296"},
		{IPv6, "OUTPUT", "-p tcp -o lo -d ::1/128 -j DNAT --to-destination fd00::7", "-o"},
		{IPv6, "OUTPUT", "-p tcp -d ::1/128 -j DNAT --to-destination fd00::7", "DNAT"},
		{IPv4, "OUTPUT", "-j MASQUERADE", "MASQUERADE"},
		{IPv4, "OUTPUT", "-j DROP", "DROP"},
		{IPv4, "OUTPUT", "-p udp -j RETURN", "udp"},
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
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"owner 1500", ownerInfo(1500), "dc050000dc0500000000000000000000" + "0100" + "0000" + "00000000"},
		{"multiport 6379,7070,8080", multiportInfo([]uint16{6379, 7070, 8080}), "0103eb189e1b901f" + strings.Repeat("00", 40)},
		{"REDIRECT 15001 IPv4", redirectInfo(IPv4, 15001), "01000000" + "02000000" + "00000000" + "00000000" + "3a993a99" + "00000000"},
		{"REDIRECT 15001 IPv6", redirectInfo(IPv6, 15001), "02000000" + strings.Repeat("00", 32) + "3a993a99"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
