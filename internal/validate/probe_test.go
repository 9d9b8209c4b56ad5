package validate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

func TestProbeForProfiles(t *testing.T) {
	want := map[rules.Profile]string{
		rules.ProfileOSMv0:  "65534 127.0.0.1:15001 127.0.0.2:15001",
		rules.ProfileOSMv10: "1500 127.0.0.1:15003 127.0.0.2:15003",
		rules.ProfileOSMv1:  "1500 127.0.0.1:15003 127.0.0.2:15003",
	}
	for _, p := range rules.Profiles {
		probe, err := ProbeFor(rules.DefaultConfig(p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got := fmt.Sprintf("%d %s %s", probe.UID, probe.Listen, probe.Dial)
		if got != want[p] {
			t.Errorf("%s: probe %s, want %s", p, got, want[p])
		}
	}
}

// Exclusions osm-v0 and osm-v1.0 put before the redirect would return the
// probe's connection: no probe then, rather than a pod failed in vain.
// osm-v1's come after the loopback rule the probe meets.
func TestProbeForExclusions(t *testing.T) {
	for _, tc := range []struct {
		profile rules.Profile
		ports   []uint16
		ranges  []string
		want    string
	}{
		{rules.ProfileOSMv0, []uint16{15001}, nil, "outbound port exclusion 15001"},
		{rules.ProfileOSMv0, nil, []string{"127.0.0.0/8"}, "outbound IP range exclusion 127.0.0.0/8"},
		{rules.ProfileOSMv10, []uint16{15003}, nil, "outbound port exclusion 15003"},
		{rules.ProfileOSMv10, nil, []string{"127.0.0.2"}, "outbound IP range exclusion 127.0.0.2"},
		{rules.ProfileOSMv10, []uint16{15001}, []string{"127.0.0.1/32", "10.0.0.0/8"}, ""},
		{rules.ProfileOSMv1, []uint16{15003}, []string{"127.0.0.0/8"}, ""},
	} {
		cfg := rules.DefaultConfig(tc.profile)
		cfg.OutboundPortExclusions, cfg.OutboundIPRangeExclusions = tc.ports, tc.ranges
		_, err := ProbeFor(cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v %v: %v", tc.profile, tc.ports, tc.ranges, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v %v: error %v, want one saying %q", tc.profile, tc.ports, tc.ranges, err, tc.want)
		}
	}
}

func TestProbeForUnknownProfile(t *testing.T) {
	if _, err := ProbeFor(rules.Config{Profile: "osm-v9"}); err == nil {
		t.Fatal("a probe for an unknown profile")
	}
}
