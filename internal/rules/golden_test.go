package rules

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenCase is one configuration rendered in both formats for one family.
type goldenCase struct {
	name string
	fam  Family
	cfg  func() Config
}

func goldenCases() []goldenCase {
	with := func(p Profile, edit func(*Config)) func() Config {
		return func() Config {
			c := DefaultConfig(p)
			edit(&c)
			return c
		}
	}
	many := make([]uint16, 0, 40)
	for p := uint16(8000); p < 8040; p++ {
		many = append(many, p)
	}
	return []goldenCase{
		{"v0-default", IPv4, with(ProfileOSMv0, func(*Config) {})},
		{"v0-default-ipv6", IPv6, with(ProfileOSMv0, func(*Config) {})},
		{"v0-exclusions", IPv4, with(ProfileOSMv0, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/24", "fd00::/8"}
			c.OutboundPortExclusions = []uint16{6379, 7070, 8080}
			c.InboundPortExclusions = []uint16{30, 40}
		})},
		{"v0-exclusions-ipv6", IPv6, with(ProfileOSMv0, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/24", "fd00::/8"}
			c.OutboundPortExclusions = []uint16{6379, 7070, 8080}
		})},
		{"v0-40-ports-split", IPv4, with(ProfileOSMv0, func(c *Config) { c.OutboundPortExclusions = many })},
		{"v1-default", IPv4, with(ProfileOSMv1, func(*Config) {})},
		{"v1-default-ipv6", IPv6, with(ProfileOSMv1, func(*Config) {})},
		{"v1-everything", IPv4, with(ProfileOSMv1, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2001:db8::/32"}
			c.OutboundIPRangeInclusions = []string{"3.3.3.3/32", "2001:db8:1::/48"}
			c.OutboundPortExclusions = []uint16{10, 20}
			c.InboundPortExclusions = many
			c.NetworkInterfaceExclusions = []string{"eth1"}
		})},
		{"v1-everything-ipv6", IPv6, with(ProfileOSMv1, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2001:db8::/32"}
			c.OutboundIPRangeInclusions = []string{"3.3.3.3/32", "2001:db8:1::/48"}
			c.NetworkInterfaceExclusions = []string{"eth1"}
		})},
		{"v1-inclusions-ipv4-only-ipv6", IPv6, with(ProfileOSMv1, func(c *Config) {
			c.OutboundIPRangeInclusions = []string{"3.3.3.3/32"}
		})},
		{"v1-podip-dualstack-ipv6", IPv6, with(ProfileOSMv1, func(c *Config) {
			c.LocalProxyMode = LocalProxyPodIP
			c.PodIPs = []netip.Addr{netip.MustParseAddr("10.244.0.7"), netip.MustParseAddr("fd00:10:244::7")}
		})},
		// The PodIP DNAT and osm-edge's DNS rule come right after the
		// outbound static rules, before every outbound exclusion.
		{"v1-podip-dns-everything", IPv4, with(ProfileOSMv1, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32"}
			c.OutboundIPRangeInclusions = []string{"3.3.3.3/32"}
			c.OutboundPortExclusions = []uint16{10, 20}
			c.InboundPortExclusions = []uint16{30}
			c.NetworkInterfaceExclusions = []string{"eth1"}
			c.LocalProxyMode = LocalProxyPodIP
			c.PodIPs = []netip.Addr{netip.MustParseAddr("10.244.0.7")}
			c.LocalDNSProxy = true
		})},
		{"v1-dns-proxy", IPv4, with(ProfileOSMv1, func(c *Config) { c.LocalDNSProxy = true })},
		{"v1-dns-proxy-ipv6", IPv6, with(ProfileOSMv1, func(c *Config) { c.LocalDNSProxy = true })},
		{"v1.0-default", IPv4, with(ProfileOSMv10, func(*Config) {})},
		{"v1.0-exclusions", IPv4, with(ProfileOSMv10, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/24"}
			c.OutboundPortExclusions = []uint16{6379, 7070}
			c.InboundPortExclusions = []uint16{30, 40}
		})},
	}
}

// TestGolden renders every case in both formats and compares with
// testdata/golden; run with -update to rewrite them, then review the diff.
func TestGolden(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			rs := mustBuild(t, gc.cfg(), gc.fam)
			doc, err := RenderRestore(rs)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, gc.name+".restore", doc)
			checkGolden(t, gc.name+".osm-init", RenderOSMInit(rs)+"\n")
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n got:\n%s\nwant:\n%s", name, got, want)
	}
}
