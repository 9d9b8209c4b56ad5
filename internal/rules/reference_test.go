package rules

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readRef reads an expected string copied verbatim from
// ../shared/reference/osm-rules.md or the troubleshooting guide.
func readRef(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\n")
}

func mustBuild(t *testing.T, cfg Config, fam Family) RuleSet {
	t.Helper()
	rs, err := Build(cfg, fam)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return rs
}

// TestOSMInitMatchesReferences checks that the osm-init rendering is byte
// for byte what OSM printed, for every string in the references.
func TestOSMInitMatchesReferences(t *testing.T) {
	v0 := DefaultConfig(ProfileOSMv0)
	v1 := DefaultConfig(ProfileOSMv1)
	tests := []struct {
		name string
		cfg  func() Config
		want func(t *testing.T) string
	}{
		{"v0 default (reference)", func() Config { return v0 }, ref("v0-default.txt")},
		{"v0 default (seed, redirection not working)", func() Config { return v0 }, ref("seed-1-default.txt")},
		{"v0 IP exclusions (reference)", func() Config {
			c := v0
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "10.0.0.10/24"}
			return c
		}, func(t *testing.T) string {
			return readRef(t, "v0-default.txt") + " && iptables -t nat -I PROXY_OUTPUT -d 1.1.1.1/32 -j RETURN && iptables -t nat -I PROXY_OUTPUT -d 10.0.0.10/24 -j RETURN"
		}},
		{"v0 IP exclusions (seed, without its '&& &&' typo)", func() Config {
			c := v0
			c.OutboundIPRangeExclusions = mustCIDRs(t, "1.1.1.1/32, 2.2.2.2/24")
			return c
		}, func(t *testing.T) string {
			return strings.Replace(readRef(t, "seed-2-ip-exclusions.txt"), "&& &&", "&&", 1)
		}},
		{"v0 port exclusions, global 6379,7070 + pod 8080 (seed)", func() Config {
			c := v0
			c.OutboundPortExclusions = MergePorts(mustPorts(t, "6379, 7070"), mustPorts(t, "8080"))
			return c
		}, ref("seed-3-port-exclusions.txt")},
		{"v0 inbound port exclusions (reference)", func() Config {
			c := v0
			c.InboundPortExclusions = []uint16{30, 40}
			return c
		}, func(t *testing.T) string {
			return readRef(t, "v0-default.txt") + " && iptables -t nat -I PROXY_INBOUND -p tcp --match multiport --dports 30,40 -j RETURN"
		}},
		{"v1 default (reference)", func() Config { return v1 }, ref("v1-default.txt")},
		{"v1 everything (reference)", func() Config {
			c := v1
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/32"}
			c.OutboundIPRangeInclusions = []string{"3.3.3.3/32", "4.4.4.4/32"}
			c.OutboundPortExclusions = []uint16{10, 20}
			c.InboundPortExclusions = []uint16{30, 40}
			c.NetworkInterfaceExclusions = []string{"eth0", "eth1"}
			return c
		}, ref("v1-everything.txt")},
		{"v1 PodIP mode, address unknown (reference)", func() Config {
			c := v1
			c.LocalProxyMode = LocalProxyPodIP
			return c
		}, ref("v1-podip.txt")},
		{"v1 PodIP mode, address from the CNI result", func() Config {
			c := v1
			c.LocalProxyMode = LocalProxyPodIP
			c.PodIPs = []netip.Addr{netip.MustParseAddr("10.244.0.7")}
			return c
		}, func(t *testing.T) string {
			return strings.Replace(readRef(t, "v1-podip.txt"), PodIPPlaceholder, "10.244.0.7", 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenderOSMInit(mustBuild(t, tt.cfg(), IPv4))
			if want := tt.want(t); got != want {
				t.Errorf("osm-init rendering differs\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func ref(name string) func(t *testing.T) string {
	return func(t *testing.T) string { return readRef(t, name) }
}

func mustPorts(t *testing.T, s string) []uint16 {
	t.Helper()
	p, err := ParsePortList(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustCIDRs(t *testing.T, s string) []string {
	t.Helper()
	c, err := ParseCIDRList(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
