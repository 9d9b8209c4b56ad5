package rules

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePortList(t *testing.T) {
	tests := []struct {
		in      string
		want    []uint16
		wantErr string
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"8080", []uint16{8080}, ""},
		{"6379, 7070", []uint16{6379, 7070}, ""},
		{" 6379 ,7070 , 8080 ", []uint16{6379, 7070, 8080}, ""},
		{"65535", []uint16{65535}, ""},
		{"70000", nil, `invalid port "70000"`},
		{"0", nil, `invalid port "0"`},
		{"-7070", nil, `invalid port "-7070"`},
		{"80;90", nil, `invalid port "80;90"`},
		{"http", nil, `invalid port "http"`},
		{"6379,,7070", nil, `empty entry in list "6379,,7070"`},
		{"6379,", nil, `empty entry in list "6379,"`},
		{"1-5", nil, `invalid port "1-5"`},
	}
	for _, tt := range tests {
		got, err := ParsePortList(tt.in)
		checkParse(t, tt.in, got, tt.want, err, tt.wantErr)
	}
}

func TestParseCIDRList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"1.1.1.1/32, 2.2.2.2/24", []string{"1.1.1.1/32", "2.2.2.2/24"}, ""},
		{"10.0.0.10/24", []string{"10.0.0.10/24"}, ""},
		{"fd00::/8,10.0.0.0/8", []string{"fd00::/8", "10.0.0.0/8"}, ""},
		{"foobar", nil, `invalid IP range "foobar"`},
		{"1.1.1.1", nil, `invalid IP range "1.1.1.1"`},
		{"1.1.1.1/33", nil, `invalid IP range "1.1.1.1/33"`},
		{"300.1.1.1/32", nil, `invalid IP range "300.1.1.1/32"`},
		{"fe80::1%eth0/64", nil, `invalid IP range "fe80::1%eth0/64"`},
		{"::ffff:10.0.0.0/104", nil, `invalid IP range "::ffff:10.0.0.0/104": an IPv4-mapped IPv6 range; write the IPv4 range (10.0.0.0/8)`},
		{"1.1.1.1/32, ::FFFF:1.2.3.4/128", nil, `invalid IP range "::FFFF:1.2.3.4/128": an IPv4-mapped IPv6 range; write the IPv4 range (1.2.3.4/32)`},
		{"::ffff:10.1.2.3/96", nil, `invalid IP range "::ffff:10.1.2.3/96": an IPv4-mapped IPv6 range; write the IPv4 range (10.1.2.3/0)`},
		{"::ffff:10.0.0.0/64", nil, `invalid IP range "::ffff:10.0.0.0/64": an IPv4-mapped IPv6 range; write IPv4 ranges as IPv4`},
		{"::10.0.0.0/104", []string{"::10.0.0.0/104"}, ""},
		{"1.1.1.1/32,,", nil, `empty entry in list "1.1.1.1/32,,"`},
	}
	for _, tt := range tests {
		got, err := ParseCIDRList(tt.in)
		checkParse(t, tt.in, got, tt.want, err, tt.wantErr)
	}
}

func TestParseInterfaceList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"eth0, eth1", []string{"eth0", "eth1"}, ""},
		{"veth+", []string{"veth+"}, ""},
		{"a+b", nil, `invalid network interface "a+b"`},
		{"averyveryverylongname", nil, `invalid network interface "averyveryverylongname"`},
		{"eth/0", nil, `invalid network interface "eth/0"`},
		{"eth 0", nil, `invalid network interface "eth 0"`},
		{"-j", nil, `invalid network interface "-j"`},
		{`eth"0`, nil, `invalid network interface "eth\"0"`},
	}
	for _, tt := range tests {
		got, err := ParseInterfaceList(tt.in)
		checkParse(t, tt.in, got, tt.want, err, tt.wantErr)
	}
}

func checkParse[T any](t *testing.T, in string, got, want []T, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Errorf("parse %q: error %v, want %q", in, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("parse %q: %v", in, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parse %q = %v, want %v", in, got, want)
	}
}

// TestMerge follows OSM: ports global first then pod; IP ranges pod first
// then global; repeats dropped by exact value.
func TestMerge(t *testing.T) {
	if got, want := MergePorts([]uint16{6379, 7070}, []uint16{8080, 6379}), []uint16{6379, 7070, 8080}; !reflect.DeepEqual(got, want) {
		t.Errorf("MergePorts = %v, want %v", got, want)
	}
	if got := MergePorts(nil, nil); got != nil {
		t.Errorf("MergePorts(nil, nil) = %v, want nil", got)
	}
	global := []string{"1.1.1.1/32", "2.2.2.2/24"}
	if got, want := MergeCIDRs([]string{"3.3.3.3/32", "1.1.1.1/32"}, global), []string{"3.3.3.3/32", "1.1.1.1/32", "2.2.2.2/24"}; !reflect.DeepEqual(got, want) {
		t.Errorf("MergeCIDRs = %v, want %v", got, want)
	}
	if global[0] != "1.1.1.1/32" || len(global) != 2 {
		t.Errorf("MergeCIDRs changed its input: %v", global)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"v0 inclusions", func(c *Config) { c.OutboundIPRangeInclusions = []string{"1.2.3.4/32"} }, "profile osm-v0 has no outbound IP range inclusions"},
		{"v0 interfaces", func(c *Config) { c.NetworkInterfaceExclusions = []string{"eth1"} }, "profile osm-v0 has no network interface exclusions"},
		{"v0 PodIP", func(c *Config) { c.LocalProxyMode = LocalProxyPodIP }, "profile osm-v0 has no local proxy mode PodIP"},
		{"bad CIDR", func(c *Config) { c.OutboundIPRangeExclusions = []string{"nope"} }, `outbound IP range exclusion: invalid IP range "nope"`},
		{"mapped CIDR", func(c *Config) { c.OutboundIPRangeExclusions = []string{"::ffff:10.0.0.0/104"} }, `outbound IP range exclusion: invalid IP range "::ffff:10.0.0.0/104": an IPv4-mapped IPv6 range`},
		{"port 0", func(c *Config) { c.OutboundPortExclusions = []uint16{0} }, `invalid port "0"`},
		{"bad profile", func(c *Config) { c.Profile = "osm-v9" }, `unknown profile "osm-v9"`},
		{"zero outbound port", func(c *Config) { c.OutboundPort = 0 }, "invalid outbound port 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig(ProfileOSMv0)
			tt.edit(&c)
			_, err := Build(c, IPv4)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Build error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
