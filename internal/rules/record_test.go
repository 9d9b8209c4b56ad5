package rules

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// recInput is a Config as the upstream oracle writes its osm_input, with
// the profile the script's generation maps to.
type recInput struct {
	Profile   Profile  `json:"profile"`
	IPExcl    []string `json:"ipExcl"`
	IPIncl    []string `json:"ipIncl"`
	OutPorts  []int    `json:"outPorts"` // int: the oracle holds OSM's 70000
	InPorts   []int    `json:"inPorts"`
	Ifaces    []string `json:"ifaces"`
	ProxyMode string   `json:"proxyMode"`
	DNS       bool     `json:"dns"`
}

// config is the Config ParseOSMInit must return for the input: OSM's
// defaults of the profile with the input's settings, IPv4 ranges only (a
// recorded command is IPv4 rules) and no pod address.
func (in recInput) config() Config {
	c := DefaultConfig(in.Profile)
	c.OutboundIPRangeExclusions = ipv4Only(in.IPExcl)
	c.OutboundIPRangeInclusions = ipv4Only(in.IPIncl)
	c.OutboundPortExclusions = ports16(in.OutPorts)
	c.InboundPortExclusions = ports16(in.InPorts)
	c.NetworkInterfaceExclusions = in.Ifaces
	c.LocalProxyMode = LocalProxyMode(in.ProxyMode)
	c.LocalDNSProxy = in.DNS
	return normalised(c)
}

func ports16(in []int) []uint16 {
	out := make([]uint16, len(in))
	for i, p := range in {
		out[i] = uint16(p)
	}
	return out
}

func ipv4Only(cidrs []string) []string {
	var out []string
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil && FamilyOf(p.Addr()) == IPv4 {
			out = append(out, s)
		}
	}
	return out
}

// normalised makes empty lists nil, so that configs compare by content.
func normalised(c Config) Config {
	for _, l := range []*[]string{&c.OutboundIPRangeExclusions, &c.OutboundIPRangeInclusions, &c.NetworkInterfaceExclusions} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	for _, l := range []*[]uint16{&c.OutboundPortExclusions, &c.InboundPortExclusions} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(c.PodIPs) == 0 {
		c.PodIPs = nil
	}
	return c
}

// mustParseRecord parses script, requires the Config want, and checks the
// render-back independently of the parser: Build's IPv4 rendering is the
// script, where a multiport list longer than 15 ports is cut into rules
// of 15 (the deviation ParseOSMInit accepts).
func mustParseRecord(t *testing.T, script string, want Config) {
	t.Helper()
	cfg, err := ParseOSMInit(script)
	if err != nil {
		t.Fatalf("ParseOSMInit: %v\n%s", err, script)
	}
	if got := normalised(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("parsed Config\n got %+v\nwant %+v", got, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("parsed Config does not validate: %v", err)
	}
	if rendered, body := RenderOSMInit(mustBuild(t, cfg, IPv4)), strings.TrimSuffix(script, "\n"); rendered != cutLongPortLists(body) {
		t.Errorf("rendering of the parsed Config differs\n got: %s\nwant: %s", rendered, cutLongPortLists(body))
	}
}

var longPortList = regexp.MustCompile(`^(.* --dports )([0-9]+(?:,[0-9]+){15,})( -j .*)$`)

// cutLongPortLists writes each multiport rule of more than 15 ports as
// consecutive rules of 15 (the last one shorter), as mesh-cni installs it.
func cutLongPortLists(script string) string {
	sep := commandSep
	if strings.Contains(script, "<<EOF\n") {
		sep = "\n"
	}
	var out []string
	for _, unit := range strings.Split(script, sep) {
		m := longPortList.FindStringSubmatch(unit)
		if m == nil {
			out = append(out, unit)
			continue
		}
		ports := strings.Split(m[2], ",")
		for len(ports) > 0 {
			n := min(len(ports), 15)
			out = append(out, m[1]+strings.Join(ports[:n], ",")+m[3])
			ports = ports[n:]
		}
	}
	return strings.Join(out, sep)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func globFiles(t testing.TB, pattern string, atLeast int) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) < atLeast {
		t.Fatalf("%s: %d files (%v), want at least %d", pattern, len(files), err, atLeast)
	}
	return files
}

// readFiles reads every file of each pattern, which must match one at least.
func readFiles(t testing.TB, patterns ...string) []string {
	var out []string
	for _, pattern := range patterns {
		for _, path := range globFiles(t, pattern, 1) {
			out = append(out, readFile(t, path))
		}
	}
	return out
}

// TestParseOSMInitAccepts parses testdata/record/accept/NAME.osm-init and
// wants the Config of NAME.json (see testdata/record/README.md).
func TestParseOSMInitAccepts(t *testing.T) {
	for _, path := range globFiles(t, "testdata/record/accept/*.osm-init", 8) {
		name := strings.TrimSuffix(filepath.Base(path), ".osm-init")
		t.Run(name, func(t *testing.T) {
			var in recInput
			if err := json.Unmarshal([]byte(readFile(t, strings.TrimSuffix(path, ".osm-init")+".json")), &in); err != nil {
				t.Fatal(err)
			}
			mustParseRecord(t, readFile(t, path), in.config())
		})
	}
}

// TestParseOSMInitRefuses wants testdata/record/refuse/NAME.osm-init
// refused with exactly the error of NAME.err, a *RecordError.
func TestParseOSMInitRefuses(t *testing.T) {
	for _, path := range globFiles(t, "testdata/record/refuse/*.osm-init", 40) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".osm-init"), func(t *testing.T) {
			want := strings.TrimSuffix(readFile(t, strings.TrimSuffix(path, ".osm-init")+".err"), "\n")
			cfg, err := ParseOSMInit(readFile(t, path))
			if err == nil {
				t.Fatalf("accepted, as %+v; want %q", cfg, want)
			}
			var re *RecordError
			if !errors.As(err, &re) {
				t.Errorf("error %T, want a *RecordError", err)
			}
			if err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
		})
	}
}

// TestParseOSMInitEndings: OSM v1 printed a final newline and v0 none;
// either form parses with or without one, the same.
func TestParseOSMInitEndings(t *testing.T) {
	for _, name := range []string{"v0-default", "v1-default", "v1.0-default"} {
		script := readFile(t, filepath.Join("testdata", "golden", name+".osm-init"))
		with, err1 := ParseOSMInit(script)
		without, err2 := ParseOSMInit(strings.TrimSuffix(script, "\n"))
		if err1 != nil || err2 != nil || !reflect.DeepEqual(with, without) {
			t.Errorf("%s: with a final newline %+v, %v; without %+v, %v", name, with, err1, without, err2)
		}
	}
}

// TestParseOSMInitGoldens parses each profile's own IPv4 renderings back
// to the Config that made them (its IPv4 ranges; the PodIP golden with its
// address back to $POD_IP, as osm-init wrote it).
func TestParseOSMInitGoldens(t *testing.T) {
	n := 0
	for _, gc := range goldenCases() {
		if gc.fam != IPv4 {
			continue
		}
		n++
		t.Run(gc.name, func(t *testing.T) {
			want := gc.cfg()
			script := readFile(t, filepath.Join("testdata", "golden", gc.name+".osm-init"))
			for _, a := range want.PodIPs {
				script = strings.Replace(script, "--to-destination "+a.String(), "--to-destination "+PodIPPlaceholder, 1)
			}
			want.PodIPs = nil
			want.OutboundIPRangeExclusions = ipv4Only(want.OutboundIPRangeExclusions)
			want.OutboundIPRangeInclusions = ipv4Only(want.OutboundIPRangeInclusions)
			mustParseRecord(t, script, normalised(want))
		})
	}
	if n < 9 {
		t.Fatalf("%d IPv4 golden cases, want the 9 or more golden_test.go lists", n)
	}
}

// TestParseOSMInitReferences parses the strings of osm-rules.md (copied
// verbatim to testdata/reference) and those it spells as the default plus
// a suffix.
func TestParseOSMInitReferences(t *testing.T) {
	v0, v1 := DefaultConfig(ProfileOSMv0), DefaultConfig(ProfileOSMv1)
	with := func(c Config, edit func(*Config)) Config { edit(&c); return normalised(c) }
	v0Default := readRef(t, "v0-default.txt")
	tests := []struct {
		name   string
		script string
		want   Config
	}{
		{"v0 default", v0Default, normalised(v0)},
		{"v0 IP exclusions", v0Default + " && iptables -t nat -I PROXY_OUTPUT -d 1.1.1.1/32 -j RETURN && iptables -t nat -I PROXY_OUTPUT -d 10.0.0.10/24 -j RETURN",
			with(v0, func(c *Config) { c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "10.0.0.10/24"} })},
		{"v0 port exclusions", v0Default + " && iptables -t nat -I PROXY_OUTPUT -p tcp --match multiport --dports 6379,7070,8080 -j RETURN",
			with(v0, func(c *Config) { c.OutboundPortExclusions = []uint16{6379, 7070, 8080} })},
		{"v0 inbound port exclusions", v0Default + " && iptables -t nat -I PROXY_INBOUND -p tcp --match multiport --dports 30,40 -j RETURN",
			with(v0, func(c *Config) { c.InboundPortExclusions = []uint16{30, 40} })},
		{"v1 default", readRef(t, "v1-default.txt"), normalised(v1)},
		{"v1 everything", readRef(t, "v1-everything.txt"), with(v1, func(c *Config) {
			c.OutboundIPRangeExclusions = []string{"1.1.1.1/32", "2.2.2.2/32"}
			c.OutboundIPRangeInclusions = []string{"3.3.3.3/32", "4.4.4.4/32"}
			c.OutboundPortExclusions = []uint16{10, 20}
			c.InboundPortExclusions = []uint16{30, 40}
			c.NetworkInterfaceExclusions = []string{"eth0", "eth1"}
		})},
		{"v1 PodIP", readRef(t, "v1-podip.txt"), with(v1, func(c *Config) { c.LocalProxyMode = LocalProxyPodIP })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustParseRecord(t, tt.script, tt.want) })
	}
}

// TestParseOSMInitLoopbackExcluded: an exclusion of 127.0.0.1/32 itself is
// told from the static loopback rule, which comes first.
func TestParseOSMInitLoopbackExcluded(t *testing.T) {
	for _, p := range Profiles {
		t.Run(string(p), func(t *testing.T) {
			want := DefaultConfig(p)
			want.OutboundIPRangeExclusions = []string{"10.0.0.0/8", "127.0.0.1/32"}
			mustParseRecord(t, RenderOSMInit(mustBuild(t, want, IPv4)), normalised(want))
		})
	}
}
