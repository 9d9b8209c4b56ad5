package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// The sections of OSM's generators, in the order each writes them
// (osm-rules.md, "v1 generator order" and "v0 order of appends"). The test
// classifies every rendered rule by its shape alone, so a rule built in
// the wrong place shows as a section out of order.
const (
	secChains = iota
	secInboundStatic
	secInboundIfaces
	secInboundPorts
	secOutboundStatic
	secDNS
	secPodIP
	secOutboundIfaces
	secIPExclusions
	secPortExclusions
	secInclusions
	secFinal
)

// option is one setting the power set combines: what it sets, and the
// section its rules must land in.
type orderOption struct {
	name    string
	section int
	set     func(*Config)
}

var orderOptions = []orderOption{
	{"ip-exclusions", secIPExclusions, func(c *Config) { c.OutboundIPRangeExclusions = []string{"192.0.2.1/32", "198.51.100.0/24"} }},
	{"inclusions", secInclusions, func(c *Config) { c.OutboundIPRangeInclusions = []string{"203.0.113.0/24", "192.0.2.128/25"} }},
	{"outbound-ports", secPortExclusions, func(c *Config) { c.OutboundPortExclusions = []uint16{6379, 7070} }},
	{"inbound-ports", secInboundPorts, func(c *Config) { c.InboundPortExclusions = []uint16{8080, 9090} }},
	{"interfaces", secOutboundIfaces, func(c *Config) { c.NetworkInterfaceExclusions = []string{"eth1", "net1"} }},
	{"podip", secPodIP, func(c *Config) {
		c.LocalProxyMode = LocalProxyPodIP
		c.PodIPs = []netip.Addr{netip.MustParseAddr("10.244.0.7")}
	}},
	{"dns-proxy", secDNS, func(c *Config) { c.LocalDNSProxy = true }},
}

// profileOptions are the options each profile can express.
func profileOptions(p Profile) []orderOption {
	if p == ProfileOSMv1 {
		return orderOptions
	}
	var out []orderOption
	for _, o := range orderOptions {
		switch o.name {
		case "ip-exclusions", "outbound-ports", "inbound-ports":
			out = append(out, o)
		}
	}
	return out
}

// sectionOrder is each profile's generator order of sections.
func sectionOrder(p Profile) []int {
	switch p {
	case ProfileOSMv0:
		// chains, outbound static (with its final jump), inbound static,
		// then the -I exclusions.
		return []int{secChains, secOutboundStatic, secFinal, secInboundStatic, secIPExclusions, secPortExclusions, secInboundPorts}
	case ProfileOSMv10:
		return []int{secInboundStatic, secInboundPorts, secOutboundStatic, secFinal, secIPExclusions, secPortExclusions}
	}
	return []int{secInboundStatic, secInboundIfaces, secInboundPorts, secOutboundStatic, secDNS, secPodIP,
		secOutboundIfaces, secIPExclusions, secPortExclusions, secInclusions, secFinal}
}

// classify names the section a rule belongs to, by its shape.
func classify(r Rule, c chainNames) (int, error) {
	args := " " + r.String() + " "
	has := func(s string) bool { return strings.Contains(args, " "+s+" ") }
	switch {
	case r.Chain == c.inRedirect || r.Chain == ChainPrerouting:
		return secInboundStatic, nil
	case r.Chain == c.inbound && r.Op == Insert && has("-i"):
		return secInboundIfaces, nil
	case r.Chain == c.inbound && has("--dports"):
		return secInboundPorts, nil
	case r.Chain == c.inbound:
		return secInboundStatic, nil
	case r.Chain == c.outRedirect:
		return secOutboundStatic, nil
	case r.Chain == ChainOutput && has("udp"):
		return secDNS, nil
	case r.Chain == ChainOutput && has("DNAT"):
		return secPodIP, nil
	case r.Chain == ChainOutput:
		return secOutboundStatic, nil
	case r.Chain != c.outbound:
		return 0, fmt.Errorf("rule %q in an unexpected chain", r)
	case has("lo") || has("--uid-owner") || has("127.0.0.1/32") || has("::1/128"):
		return secOutboundStatic, nil
	case has("-o"):
		return secOutboundIfaces, nil
	case has("--dports"):
		return secPortExclusions, nil
	case has("-d") && has(c.outRedirect):
		return secInclusions, nil
	case has("-d"):
		return secIPExclusions, nil
	}
	return secFinal, nil
}

// TestGeneratorOrder builds every profile with every combination of the
// options it expresses and checks that the rules come in the generator's
// order of sections, that each option set yields its section and each
// option unset yields none.
func TestGeneratorOrder(t *testing.T) {
	for _, p := range Profiles {
		opts := profileOptions(p)
		order := sectionOrder(p)
		for mask := 0; mask < 1<<len(opts); mask++ {
			cfg := DefaultConfig(p)
			var names []string
			want := map[int]bool{}
			for i, o := range opts {
				if mask&(1<<i) != 0 {
					o.set(&cfg)
					names = append(names, o.name)
					want[o.section] = true
				}
			}
			name := string(p) + "/" + strings.Join(append([]string{"base"}, names...), "+")
			t.Run(name, func(t *testing.T) {
				rs := mustBuild(t, cfg, IPv4)
				seen := map[int]bool{}
				last := -1
				for _, r := range rs.Rules {
					sec, err := classify(r, profileChains(p))
					if err != nil {
						t.Fatal(err)
					}
					pos := slices.Index(order, sec)
					if pos < 0 || pos < last {
						t.Fatalf("rule %q (section %d) comes after section %d: out of %s's generator order\n%s", r, sec, order[max(last, 0)], p, RenderOSMInit(rs))
					}
					last = pos
					seen[sec] = true
				}
				for _, o := range opts {
					if seen[o.section] != want[o.section] {
						t.Errorf("option %s: section present %v, want %v\n%s", o.name, seen[o.section], want[o.section], RenderOSMInit(rs))
					}
				}
			})
		}
	}
}

// TestOlderProfilesRefuseWhatTheyLack proves the options a generation did
// not have are refused, naming them, rather than silently dropped.
func TestOlderProfilesRefuseWhatTheyLack(t *testing.T) {
	for _, p := range []Profile{ProfileOSMv0, ProfileOSMv10} {
		for _, o := range orderOptions {
			if slices.ContainsFunc(profileOptions(p), func(x orderOption) bool { return x.name == o.name }) {
				continue
			}
			cfg := DefaultConfig(p)
			o.set(&cfg)
			_, err := Build(cfg, IPv4)
			if err == nil || !strings.Contains(err.Error(), "profile "+string(p)+" has no") {
				t.Errorf("%s with %s: error %v, want a refusal naming the profile", p, o.name, err)
			}
		}
	}
}
