package rules

import (
	"fmt"
	"net/netip"
	"path/filepath"
)

// saveCase is a configuration whose rules were applied with a real
// iptables and read back with iptables-save into testdata/save/: the
// canonicalisation tests compare the capture with the rule set.
type saveCase struct {
	name string
	cfg  Config
}

func saveCases() []saveCase {
	v0, v1 := DefaultConfig(ProfileOSMv0), DefaultConfig(ProfileOSMv1)
	v0x := v0
	// Host bits set on purpose: iptables stores 10.0.0.0/24.
	v0x.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "10.0.0.10/24", "2001:db8::1/128", "fd00::10/64"}
	v0x.OutboundPortExclusions = []uint16{6379, 7070, 8080}
	v0x.InboundPortExclusions = []uint16{30, 40}
	v1x := v1
	v1x.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/32", "2001:db8::/32"}
	v1x.OutboundIPRangeInclusions = []string{"3.3.3.3/32", "4.4.4.4/24", "2001:db8:1::5/48"}
	v1x.OutboundPortExclusions = []uint16{10, 20}
	v1x.InboundPortExclusions = []uint16{30, 40}
	v1x.NetworkInterfaceExclusions = []string{"eth0", "eth1"}
	v1p := v1
	v1p.LocalProxyMode = LocalProxyPodIP
	v1p.PodIPs = []netip.Addr{netip.MustParseAddr("10.244.0.7"), netip.MustParseAddr("fd00:244::7")}
	return []saveCase{
		{"v0-default", v0},
		{"v0-exclusions", v0x},
		{"v1-default", v1},
		{"v1-everything", v1x},
		{"v1-podip", v1p},
	}
}

// saveBackends are the iptables backends the captures were made with.
var saveBackends = []string{"nft", "legacy"}

// savePath is the capture of one case, backend ("nft" or "legacy") and
// family.
func savePath(name, backend string, fam Family) string {
	return filepath.Join("testdata", "save", fmt.Sprintf("%s.%s.%s.txt", name, backend, fam))
}
