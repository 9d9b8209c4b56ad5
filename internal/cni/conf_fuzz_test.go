package cni

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// confSeeds are every network config and prevResult under testdata, the
// prevResults wrapped in a config of their version.
func confSeeds(t testing.TB) [][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds under testdata: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(p)
		if v, ok := strings.CutPrefix(base, "prevresult-bridge-"); ok {
			data = withPrev(strings.TrimSuffix(v, ".json"), string(data))
		}
		out = append(out, data)
	}
	return out
}

// FuzzParseConf: no network config makes parseConf panic; a refusal names
// mesh-cni's network config; an accepted one has every setting resolved,
// lists as unknown exactly the top-level keys it does not know, and passes
// prevResult through as libcni prints it.
func FuzzParseConf(f *testing.F) {
	for _, s := range confSeeds(f) {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, requirePrev bool) {
		conf, err := parseConf(data, requirePrev)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mesh-cni network config: ") {
				t.Fatalf("refusal %q does not name mesh-cni's network config", err)
			}
			return
		}
		checkResolved(t, conf)
		checkUnknown(t, data, conf.unknown)
		if requirePrev && conf.PrevResult == nil {
			t.Fatalf("accepted %q without a prevResult", data)
		}
		if conf.PrevResult != nil {
			checkPassThrough(t, data, conf)
		}
	})
}

// FuzzPrevResult: a prevResult of each version mesh-cni speaks, in a
// config of that version, is refused naming the field, or printed exactly
// as libcni prints it, and the pod's addresses are the result's IPs.
func FuzzPrevResult(f *testing.F) {
	versions := pluginInfo.SupportedVersions()
	for i, v := range versions {
		prev, err := os.ReadFile(filepath.Join("testdata", "prevresult-bridge-"+v+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), prev)
		f.Add(uint8(i), []byte(`{"cniVersion":"`+v+`","interfaces":[null],"ips":[null,{"address":"::ffff:10.1.2.3/120"}]}`))
	}
	f.Fuzz(func(t *testing.T, which uint8, prev []byte) {
		if !json.Valid(prev) {
			return
		}
		v := versions[int(which)%len(versions)]
		data := withPrev(v, string(prev))
		conf, err := parseConf(data, true)
		if err != nil {
			// "prevResult": null is no prevResult, and says so.
			if !strings.Contains(err.Error(), `field "prevResult": `) && !(strings.Contains(err.Error(), "no prevResult") && string(bytes.TrimSpace(prev)) == "null") {
				t.Fatalf("refusal %q of prevResult %s does not name the field", err, prev)
			}
			return
		}
		if got := conf.PrevResult.Version(); got != v {
			t.Fatalf("prevResult parsed as version %s, the config has %s", got, v)
		}
		checkPassThrough(t, data, conf)
	})
}

// checkResolved fails unless every setting of an accepted config has a
// usable value.
func checkResolved(t *testing.T, conf *NetConf) {
	t.Helper()
	if conf.profile != "" && !slices.Contains(rules.Profiles, conf.profile) {
		t.Fatalf("accepted profile %q", conf.profile)
	}
	if conf.apiTimeout <= 0 || conf.AgentSocket == "" || conf.RunDir == "" || conf.MeshNamespace == "" || conf.MeshConfigName == "" {
		t.Fatalf("accepted a config with an unset setting: %+v", conf.Settings)
	}
	for _, n := range conf.SidecarContainerNames {
		if strings.TrimSpace(n) == "" {
			t.Fatalf("accepted sidecar names %q", conf.SidecarContainerNames)
		}
	}
}

// checkUnknown fails unless unknown is sorted and holds exactly the
// input's top-level keys that NetConf does not decode and the spec does
// not reserve for the runtime.
func checkUnknown(t *testing.T, data []byte, unknown []string) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("accepted a config that is not a JSON object: %v", err)
	}
	known := jsonKeys(reflect.TypeFor[NetConf](), nil)
	var want []string
	for key := range top {
		reserved := key == "runtimeConfig" || key == "args" || strings.HasPrefix(key, "cni.dev/")
		if !reserved && !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, key) }) {
			want = append(want, key)
		}
	}
	slices.Sort(want)
	if !slices.Equal(unknown, want) {
		t.Fatalf("unknown keys %q, want %q", unknown, want)
	}
}

// checkPassThrough fails unless passThrough prints what libcni prints for
// the same config and podIPs returns the result's addresses in order.
func checkPassThrough(t *testing.T, data []byte, conf *NetConf) {
	t.Helper()
	want, wantIPs, err := libcniPrint(data)
	if err != nil {
		t.Fatalf("mesh-cni accepted a config libcni refuses (%v):\n%s", err, data)
	}
	var printErr error
	got := stdoutOf(t, func() { printErr = passThrough(conf) })
	if printErr != nil || got != want {
		t.Fatalf("passed through (%v):\n%s\nlibcni prints:\n%s", printErr, got, want)
	}
	ips, err := podIPs(conf.PrevResult)
	if err != nil {
		t.Fatalf("podIPs of an accepted prevResult: %v", err)
	}
	if !slices.Equal(ips, wantIPs) {
		t.Fatalf("pod IPs %v, the result holds %v", ips, wantIPs)
	}
}

// libcniPrint is a plugin of containernetworking/plugins passing prevResult
// through, and the addresses of its "ips" as its own types decode them,
// without the version conversion, which crashes on a null entry.
func libcniPrint(data []byte) (string, []netip.Addr, error) {
	var conf types.PluginConf
	if err := json.Unmarshal(data, &conf); err != nil {
		return "", nil, err
	}
	raw, err := json.Marshal(conf.RawPrevResult)
	if err != nil {
		return "", nil, err
	}
	if err := version.ParsePrevResult(&conf); err != nil {
		return "", nil, err
	}
	res, err := conf.PrevResult.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	if err := res.PrintTo(&out); err != nil {
		return "", nil, err
	}
	var ips struct {
		IPs []*struct {
			Address types.IPNet `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(raw, &ips); err != nil {
		return "", nil, err
	}
	var addrs []netip.Addr
	for _, ip := range ips.IPs {
		if ip == nil {
			continue
		}
		if a, ok := netip.AddrFromSlice(net.IP(ip.Address.IP)); ok {
			addrs = append(addrs, a.Unmap())
		}
	}
	return out.String(), addrs, nil
}
