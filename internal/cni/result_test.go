package cni

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// libraryPassThrough is libcni's own way, as a plugin of
// containernetworking/plugins goes: prevResult parsed by
// version.ParsePrevResult into a bare types.PluginConf and printed in the
// config's version, and the pod IPs read through types100's conversion.
func libraryPassThrough(t *testing.T, confJSON []byte) (string, []netip.Addr) {
	t.Helper()
	var conf types.PluginConf
	if err := json.Unmarshal(confJSON, &conf); err != nil {
		t.Fatal(err)
	}
	if err := version.ParsePrevResult(&conf); err != nil {
		t.Fatalf("library: %v", err)
	}
	res, err := conf.PrevResult.GetAsVersion(conf.CNIVersion)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.PrintTo(&out); err != nil {
		t.Fatal(err)
	}
	cur, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		t.Fatal(err)
	}
	var ips []netip.Addr
	for _, ip := range cur.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP); ok {
			ips = append(ips, a.Unmap())
		}
	}
	return out.String(), ips
}

// ownPassThrough is what mesh-cni prints through parseConf and
// passThrough (NetConf, its prevResult check), and the pod IPs it reads.
func ownPassThrough(t *testing.T, confJSON []byte) (string, []netip.Addr) {
	t.Helper()
	conf, err := parseConf(confJSON, true)
	if err != nil {
		t.Fatalf("parseConf: %v", err)
	}
	out := stdoutOf(t, func() { err = passThrough(conf) })
	if err != nil {
		t.Fatal(err)
	}
	ips, err := podIPs(conf.PrevResult)
	if err != nil {
		t.Fatal(err)
	}
	return out, ips
}

func comparePassThrough(t *testing.T, confJSON []byte) {
	t.Helper()
	want, wantIPs := libraryPassThrough(t, confJSON)
	got, gotIPs := ownPassThrough(t, confJSON)
	if got != want {
		t.Errorf("printed:\n%s\nlibcni printed:\n%s", got, want)
	}
	if !slices.Equal(gotIPs, wantIPs) {
		t.Errorf("pod IPs %v, libcni's %v", gotIPs, wantIPs)
	}
}

func withPrev(cniVersion, prev string) []byte {
	return []byte(`{"cniVersion":"` + cniVersion + `","name":"n","type":"mesh-cni","prevResult":` + prev + `}`)
}

// TestPassThroughAsLibrary: what the real bridge plugin (v1.9.1, dual
// stack, routes and DNS) printed at each version goes out as libcni
// printed it.
func TestPassThroughAsLibrary(t *testing.T) {
	for _, v := range pluginInfo.SupportedVersions() {
		t.Run(v, func(t *testing.T) {
			prev, err := os.ReadFile(filepath.Join("testdata", "prevresult-bridge-"+v+".json"))
			if err != nil {
				t.Fatal(err)
			}
			comparePassThrough(t, withPrev(v, string(prev)))
		})
	}
	for _, f := range []string{"netconf-bridge-1.0.0.json", "netconf-minimal-0.3.1.json"} {
		t.Run(f, func(t *testing.T) { comparePassThrough(t, testdata(t, f)) })
	}
}

// TestPassThroughEdgesAsLibrary: every field of every version, fields
// no version has, odd addresses and empty parts print as with libcni.
func TestPassThroughEdgesAsLibrary(t *testing.T) {
	bodies := []string{
		`"ips":[{"address":"10.0.0.1/8"}]`,
		`"interfaces":[{"name":"eth0","mac":"aa:bb:cc:dd:ee:ff","mtu":9000,"sandbox":"/x","socketPath":"/s","pciID":"0000:00:01.0","extra":1}],` +
			`"ips":[{"version":"6","interface":0,"address":"FD00:0::0005/64","gateway":"fd00::1","extra":true},{"address":"::ffff:10.1.2.3/120"},{"interface":0,"address":"10.0.0.5/32"}],` +
			`"routes":[{"dst":"10.0.0.0/8","gw":"10.0.0.1","mtu":1400,"advmss":1360,"priority":5,"table":100,"scope":253},{"dst":"::/0","table":0,"scope":0}],` +
			`"dns":{"nameservers":["10.0.0.10","fd00::10"],"domain":"cluster.local","search":["a","b"],"options":["ndots:5"]},"unknownTopLevel":{"a":1}`,
		`"interfaces":[{"name":"<a&b>"}],"ips":[],"routes":[],"dns":{"nameservers":[]}`,
		`"ips":[{"gateway":"10.0.0.1"}]`,
	}
	for _, v := range pluginInfo.SupportedVersions() {
		for i, body := range bodies {
			t.Run(v+"/"+string(rune('a'+i)), func(t *testing.T) {
				comparePassThrough(t, withPrev(v, `{"cniVersion":"`+v+`",`+body+`}`))
			})
		}
	}
	// A null interface: libcni's 0.x-to-1.x conversion crashes on it at
	// 0.3.1 and 0.4.0, so podIPs reads a 0.x result without it.
	for _, v := range []string{"1.0.0", "1.1.0"} {
		comparePassThrough(t, withPrev(v, `{"cniVersion":"`+v+`","interfaces":[null],"ips":[{"interface":0,"address":"10.0.0.7/24"}]}`))
	}
	got, _ := ownPassThrough(t, withPrev("0.3.1", `{"cniVersion":"0.3.1","interfaces":[null],"ips":[{"version":"4","address":"10.0.0.7/24"}]}`))
	if !strings.Contains(got, "\"interfaces\": [\n        null\n    ]") {
		t.Errorf("0.3.1 result with a null interface printed as\n%s", got)
	}
}

// TestPassThroughConvertsNothing: a prevResult not in the config's
// version, or without one, fails naming both, where libcni converted it.
func TestPassThroughConvertsNothing(t *testing.T) {
	for _, tt := range []struct{ conf, prev, want string }{
		{"1.1.0", `{"cniVersion":"1.0.0","ips":[]}`, "prevResult has cniVersion 1.0.0, the config has 1.1.0"},
		{"1.0.0", `{"cniVersion":"0.4.0","ips":[]}`, "prevResult has cniVersion 0.4.0, the config has 1.0.0"},
		{"0.4.0", `{"cniVersion":"0.3.1","ips":[]}`, "prevResult has cniVersion 0.3.1, the config has 0.4.0"},
		{"0.3.1", `{"cniVersion":"1.0.0","ips":[]}`, "prevResult has cniVersion 1.0.0, the config has 0.3.1"},
		{"0.3.1", `{"ips":[{"version":"4","address":"10.0.0.1/8"}]}`, "prevResult has no cniVersion, the config has 0.3.1"},
		{"1.0.0", `{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1"}]}`, `could not parse prevResult: invalid CIDR address: 10.0.0.1`},
		{"1.0.0", `{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1/8","gateway":"x"}]}`, `could not parse prevResult`},
		{"1.0.0", `"a string"`, `want map[string]interface {}, got JSON string`},
	} {
		_, err := parseConf(withPrev(tt.conf, tt.prev), true)
		if err == nil || !strings.Contains(err.Error(), `field "prevResult": `+tt.want) {
			t.Errorf("config %s, prevResult %s: %v, want %q", tt.conf, tt.prev, err, tt.want)
		}
	}
}
