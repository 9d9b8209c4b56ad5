package meshsettings

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// features are the settings a pod's rules can carry, each one a bit of
// TestRecordEveryRendering's combinations; v1Only ones exist in osm-v1.
var features = []struct {
	name   string
	v1Only bool
	set    func(c *rules.Config)
}{
	{"outbound ports", false, func(c *rules.Config) { c.OutboundPortExclusions = []uint16{6379, 7070} }},
	{"inbound ports", false, func(c *rules.Config) { c.InboundPortExclusions = []uint16{9090, 9091} }},
	// More than one multiport match takes: Build splits the list.
	{"20 outbound ports", false, func(c *rules.Config) {
		for p := uint16(8000); p < 8020; p++ {
			c.OutboundPortExclusions = append(c.OutboundPortExclusions, p)
		}
	}},
	{"IPv4 ranges", false, func(c *rules.Config) {
		c.OutboundIPRangeExclusions = []string{"10.0.0.0/8", "127.0.0.1/32", "1.1.1.1/32"}
	}},
	{"inclusions", true, func(c *rules.Config) { c.OutboundIPRangeInclusions = []string{"3.3.3.3/32", "10.96.0.0/12"} }},
	{"interfaces", true, func(c *rules.Config) { c.NetworkInterfaceExclusions = []string{"eth1", "net2"} }},
	{"PodIP", true, func(c *rules.Config) { c.LocalProxyMode = rules.LocalProxyPodIP }},
	{"DNS proxy", true, func(c *rules.Config) { c.LocalDNSProxy = true }},
}

// TestRecordEveryRendering: for every profile and every combination of
// the settings it has, the record parses (rules.ParseOSMInit, as the
// plugin reads it) into a Config whose rules, in both families of a
// dual-stack pod and with its addresses in place of $POD_IP, are exactly
// the rules of the Config rendered: what the plugin installs from the
// record is what it would have computed at ADD.
func TestRecordEveryRendering(t *testing.T) {
	ips := []netip.Addr{netip.MustParseAddr("10.220.0.5"), netip.MustParseAddr("fd00:10:220::5")}
	n := 0
	for _, p := range rules.Profiles {
		for mask := 0; mask < 1<<len(features); mask++ {
			cfg := rules.DefaultConfig(p)
			var names []string
			skip := false
			for i, f := range features {
				if mask&(1<<i) == 0 {
					continue
				}
				if f.v1Only && p != rules.ProfileOSMv1 {
					skip = true
					break
				}
				f.set(&cfg)
				names = append(names, f.name)
			}
			if skip {
				continue
			}
			n++
			name := fmt.Sprintf("%s %v", p, names)
			cfg.PodIPs = ips
			script, err := Record(cfg)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if strings.Contains(script, ips[0].String()) || strings.Contains(script, rules.PodIPPlaceholder) != (cfg.LocalProxyMode == rules.LocalProxyPodIP) {
				t.Errorf("%s: the record holds the pod's address, or $POD_IP where PodIP mode is not asked:\n%s", name, script)
			}
			back, err := rules.ParseOSMInit(script)
			if err != nil {
				t.Errorf("%s: the plugin refuses the record: %v\n%s", name, err, script)
				continue
			}
			back.PodIPs = ips
			for _, fam := range []rules.Family{rules.IPv4, rules.IPv6} {
				want, err := rules.Build(cfg, fam)
				if err != nil {
					t.Fatal(err)
				}
				got, err := rules.Build(back, fam)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %s: the record gives\n%+v (%v)\nwant\n%+v", name, fam, got, err, want)
				}
			}
		}
	}
	// 16 combinations in osm-v0 and osm-v1.0 each, 256 in osm-v1.
	if n != 16+16+256 {
		t.Errorf("%d combinations rendered, want 288", n)
	}
}

// TestRecordRefusesWhatItCannotCarry: an IPv6 range shapes only the IPv6
// rules (and an IPv6 inclusion alone turns the IPv4 rules into inclusion
// mode with nothing included), which osm-init's IPv4 command cannot say;
// the pod gets no record rather than one that would install other rules.
func TestRecordRefusesWhatItCannotCarry(t *testing.T) {
	for _, set := range []func(c *rules.Config){
		func(c *rules.Config) { c.OutboundIPRangeExclusions = []string{"10.0.0.0/8", "fd00::/8"} },
		func(c *rules.Config) { c.OutboundIPRangeInclusions = []string{"2001:db8::/32"} },
	} {
		cfg := rules.DefaultConfig(rules.ProfileOSMv1)
		set(&cfg)
		if script, err := Record(cfg); err == nil || !strings.Contains(err.Error(), "record") {
			t.Errorf("Record(%v, %v) = %q, %v; want the record refused", cfg.OutboundIPRangeExclusions, cfg.OutboundIPRangeInclusions, script, err)
		}
	}
	if _, err := Record(rules.Config{Profile: "osm-v9"}); err == nil {
		t.Error("an invalid Config was rendered")
	}
}
