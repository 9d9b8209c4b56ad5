package netns

import (
	"net/netip"
	"strings"
	"testing"
)

// TestServeProbe links two namespaces and checks the three things tests
// rely on: a probe lands on the listener at the address it dialled, a
// REDIRECT is seen through OriginalDst, and a probe made as a user is
// matched by iptables' owner match as that user.
func TestServeProbe(t *testing.T) {
	RequireKernel(t, "iptables-nft")
	a, b := New(t), New(t)
	aAddr, bAddr := netip.MustParseAddr("10.213.9.1"), netip.MustParseAddr("10.213.9.2")
	Link(t, a, "eth0", []netip.Prefix{netip.PrefixFrom(aAddr, 24)}, b, "eth0", []netip.Prefix{netip.PrefixFrom(bAddr, 24)})
	b.Serve(t, netip.AddrPortFrom(bAddr, 80), "b")
	a.Serve(t, netip.AddrPortFrom(netip.IPv4Unspecified(), 9999), "redirected")
	a.Run(t, "iptables-nft", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "--uid-owner", "1234", "-j", "REDIRECT", "--to-ports", "9999")

	tests := []struct {
		name string
		uid  int
		want string
	}{
		{"root reaches the peer", 0, "b 10.213.9.2:80"},
		{"uid 1234 is redirected, original destination kept", 1234, "redirected 10.213.9.2:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Probe(netip.AddrPortFrom(bAddr, 80), tt.uid)
			if err != nil || got != tt.want {
				t.Errorf("Probe = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := a.Probe(netip.AddrPortFrom(bAddr, 81), 0); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Probe to a port nobody listens on: %v, want connection refused", err)
	}
}
