package rules

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/shared"
)

// recCase is one case of ../shared/reference/osm-upstream-cases.json:
// a string OSM's own generator printed, with the configuration it had.
type recCase struct {
	ID         string   `json:"id"`
	Generation string   `json:"generation"`
	Input      recInput `json:"osm_input"`
	Output     string   `json:"osm_output"`
}

func loadRecCases(t testing.TB) []recCase {
	t.Helper()
	path := filepath.Join(shared.Dir(t), "reference", "osm-upstream-cases.json")
	var f struct {
		Cases         []recCase `json:"cases"`
		Unexpressible []recCase `json:"unexpressible"`
	}
	if err := json.Unmarshal([]byte(readFile(t, path)), &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	all := append(f.Cases, f.Unexpressible...)
	if len(all) != 69 {
		t.Fatalf("%s: %d cases, want the 68 and 1 unexpressible it holds", path, len(all))
	}
	return all
}

// caseProfile maps a case's generation to the profile of its rules.
func caseProfile(generation string) Profile {
	switch {
	case strings.HasPrefix(generation, "OSM v0."):
		return ProfileOSMv0
	case strings.HasPrefix(generation, "OSM v1.0."):
		return ProfileOSMv10
	}
	return ProfileOSMv1
}

// refusedCases are the oracle's strings that osm-init could not have run
// (iptables refuses them, or OSM's webhook wrote no init container), with
// what the refusal must name. Every other case must parse.
var refusedCases = map[string]string{
	"deviation-v0-port-70000":            `--dports 80,70000: invalid port "70000"`,
	"deviation-v1-port-70000":            `--dports 80,70000: invalid port "70000"`,
	"deviation-v1-port-0":                "empty: no osm-init command was recorded",
	"deviation-v0-ip-excl-empty-entry":   `an empty argument (two spaces in a row, or a space at an end) in "iptables -t nat -I PROXY_OUTPUT -d  -j RETURN"`,
	"deviation-v0-ipv6-range-in-ip-excl": "iptables command 19: -d fd00::/8: an IPv6 range in an IPv4 rule",
	"deviation-v1-ipv6-range-in-ip-excl": "line 24: -d fd00::/8: an IPv6 range in an IPv4 rule",
	"deviation-v1-iface-odd-name":        `line 16: invalid network interface "bad/name"`,
}

// TestParseOSMInitUpstreamCases parses every string OSM's generators
// printed in the oracle: each gives the case's configuration (its IPv4
// ranges), the profile of its generation, and renders back byte for byte
// (or split, past 15 ports); the strings osm-init could not have run are
// refused, naming the value.
func TestParseOSMInitUpstreamCases(t *testing.T) {
	seen := 0
	for _, c := range loadRecCases(t) {
		t.Run(c.ID, func(t *testing.T) {
			if want, ok := refusedCases[c.ID]; ok {
				seen++
				_, err := ParseOSMInit(c.Output)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want one naming %q", err, want)
				}
				return
			}
			in := c.Input
			in.Profile = caseProfile(c.Generation)
			mustParseRecord(t, c.Output, in.config())
		})
	}
	if seen != len(refusedCases) {
		t.Errorf("%d of the %d refused cases are in the oracle", seen, len(refusedCases))
	}
}

// seedArgs are the osm-init Args of the troubleshooting guides' `kubectl
// describe pod` outputs: the line after "Args:" and "-c".
func seedArgs(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, path := range globFiles(t, filepath.Join(shared.Dir(t), "seeds", "*.md"), 2) {
		lines := strings.Split(readFile(t, path), "\n")
		for i := 0; i+2 < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "Args:" && strings.TrimSpace(lines[i+1]) == "-c" {
				out = append(out, strings.TrimSpace(lines[i+2]))
			}
		}
	}
	return out
}

// TestParseOSMInitSeeds parses the guides' Args: the default, the IP range
// exclusions (whose "&& &&" typo is refused, and parses once fixed) and
// the port exclusions, in each guide.
func TestParseOSMInitSeeds(t *testing.T) {
	args := seedArgs(t)
	if len(args) != 6 {
		t.Fatalf("%d Args in the seed guides, want 3 in each of 2", len(args))
	}
	v0 := DefaultConfig(ProfileOSMv0)
	ranges, ports := v0, v0
	ranges.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/24"}
	ports.OutboundPortExclusions = []uint16{6379, 7070, 8080}
	wants := []Config{normalised(v0), normalised(ranges), normalised(ports)}
	for i, script := range args {
		t.Run(string(rune('a'+i)), func(t *testing.T) {
			if i%3 == 1 {
				_, err := ParseOSMInit(script)
				if err == nil || !strings.Contains(err.Error(), `iptables command 19: a stray "&&"`) {
					t.Errorf("the guide's \"&& &&\" typo: %v, want it refused at command 19", err)
				}
				script = strings.Replace(script, "&& &&", "&&", 1)
			}
			mustParseRecord(t, script, wants[i%3])
		})
	}
}
