package meshsettings

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// mergeInput is one fuzz input of the mesh settings merge: a MeshConfig
// as the API returns it, the osm-config ConfigMap's three keys and the
// pod's four annotations.
type mergeInput struct {
	meshConfig                  []byte
	cmRanges, cmOut, cmIn       string
	annOut, annIn, annExcl, ann string
	// sel picks where the settings come from (bits 0-1), the configured
	// profile (bits 2-3) and the pod's sidecar (bit 4).
	sel uint8
}

// fuzzProfiles are the plugin's profile settings: auto, then each.
var fuzzProfiles = []rules.Profile{"", rules.ProfileOSMv0, rules.ProfileOSMv10, rules.ProfileOSMv1}

// FuzzMeshSettings: whatever the MeshConfig, the ConfigMap and the pod's
// annotations hold, Gather refuses naming the object and field or key,
// Decide refuses naming the pod, or the pod gets a valid Config that holds
// every port and range of both sources once and builds, renders and (but
// for IPv6 ranges, which osm-init's command cannot carry) records.
func FuzzMeshSettings(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "meshconfig", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no MeshConfig seeds: %v", err)
	}
	cm := meshtest.SeedConfigMap().Data
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for sel := range 4 {
			f.Add(data, cm[keyOutboundIPRangeExclusions], cm[keyOutboundPortExclusions], "", "8080", "30, 40", "10.0.0.0/8", "", uint8(sel+4*i+16*(i%2)))
		}
		f.Add(data, "1.1.1.1", "x", "70000", "0", " , ", "fd00::/8", "2001:db8::/32", uint8(i))
	}
	f.Fuzz(func(t *testing.T, mc []byte, cmRanges, cmOut, cmIn, annOut, annIn, annExcl, annIncl string, sel uint8) {
		checkMerge(t, mergeInput{mc, cmRanges, cmOut, cmIn, annOut, annIn, annExcl, annIncl, sel})
	})
}

func checkMerge(t *testing.T, in mergeInput) {
	fake, ok := in.fake()
	if !ok {
		return
	}
	mesh, err := Gather(context.Background(), fake, "osm-system", "osm-mesh-config")
	if err != nil {
		if !strings.Contains(err.Error(), " in MeshConfig osm-system/osm-mesh-config field spec.") &&
			!strings.Contains(err.Error(), " in ConfigMap osm-system/osm-config key ") {
			t.Fatalf("refusal %q names no object and field", err)
		}
		return
	}
	pod := in.pod()
	ips := []netip.Addr{netip.MustParseAddr("10.220.0.5"), netip.MustParseAddr("fd00:220::5")}
	d, err := Decide(mesh, fuzzProfiles[in.sel>>2&3], pod, ips)
	if err != nil {
		if !strings.Contains(err.Error(), "pod test/web-1") {
			t.Fatalf("refusal %q does not name the pod", err)
		}
		return
	}
	if (d.Skip != "") != (mesh.InterceptionMode == InterceptionEBPF) {
		t.Fatalf("interception mode %q gave skip %q", mesh.InterceptionMode, d.Skip)
	}
	if d.Skip == "" {
		checkConfig(t, mesh, pod, d.Config)
	}
}

// fake serves the input's MeshConfig and ConfigMap as sel says; false when
// the MeshConfig does not decode (the API client refuses it before
// Gather).
func (in mergeInput) fake() (*meshtest.Fake, bool) {
	f := &meshtest.Fake{}
	if in.sel&1 == 0 {
		f.MC = &object.MeshConfig{}
		if json.Unmarshal(in.meshConfig, f.MC) != nil {
			return nil, false
		}
	}
	if in.sel&2 == 0 {
		f.CM = &object.ConfigMap{Data: map[string]string{
			keyOutboundIPRangeExclusions: in.cmRanges, keyOutboundPortExclusions: in.cmOut, keyInboundPortExclusions: in.cmIn,
		}}
	}
	return f, true
}

func (in mergeInput) pod() *object.Pod {
	return meshtest.Pod(func(p *object.Pod) {
		p.Metadata.Annotations = map[string]string{
			AnnotationOutboundPortExclusions: in.annOut, AnnotationInboundPortExclusions: in.annIn,
			AnnotationOutboundIPRangeExclusions: in.annExcl, AnnotationOutboundIPRangeInclusions: in.ann,
		}
		if in.sel&16 != 0 {
			p.Spec.Containers[1].Name = PipySidecar
		}
	})
}

// checkConfig fails unless cfg is valid, holds each source's ports and
// ranges exactly once, builds and renders in both families, and records
// unless it has an IPv6 range.
func checkConfig(t *testing.T, mesh Settings, pod *object.Pod, cfg rules.Config) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Decide gave a Config that does not validate: %v", err)
	}
	a := pod.Metadata.Annotations
	mustHoldOnce(t, "outbound ports", cfg.OutboundPortExclusions, mesh.OutboundPorts, mustPorts(t, a[AnnotationOutboundPortExclusions]))
	mustHoldOnce(t, "inbound ports", cfg.InboundPortExclusions, mesh.InboundPorts, mustPorts(t, a[AnnotationInboundPortExclusions]))
	mustHoldOnce(t, "outbound ranges", cfg.OutboundIPRangeExclusions, mesh.OutboundIPExclusions, mustCIDRs(t, a[AnnotationOutboundIPRangeExclusions]))
	mustHoldOnce(t, "inclusions", cfg.OutboundIPRangeInclusions, mesh.OutboundIPInclusions, mustCIDRs(t, a[AnnotationOutboundIPRangeInclusions]))
	for _, fam := range []rules.Family{rules.IPv4, rules.IPv6} {
		rs, err := rules.Build(cfg, fam)
		if err != nil {
			t.Fatalf("a valid Config does not build for %s: %v", fam, err)
		}
		if _, err := rules.RenderRestore(rs); err != nil {
			t.Fatalf("a valid Config does not render for %s: %v", fam, err)
		}
	}
	v6 := slices.ContainsFunc(slices.Concat(cfg.OutboundIPRangeExclusions, cfg.OutboundIPRangeInclusions), func(r string) bool {
		return netip.MustParsePrefix(r).Addr().Is6()
	})
	if _, err := Record(cfg); (err != nil) != v6 {
		t.Fatalf("Record = %v for a Config with IPv6 ranges %v (exclusions %v, inclusions %v)", err, v6, cfg.OutboundIPRangeExclusions, cfg.OutboundIPRangeInclusions)
	}
}

// mustHoldOnce fails unless merged holds every element of the sources,
// each once, and nothing else.
func mustHoldOnce[E comparable](t *testing.T, what string, merged []E, sources ...[]E) {
	t.Helper()
	want := map[E]bool{}
	for _, e := range slices.Concat(sources...) {
		want[e] = true
	}
	seen := map[E]bool{}
	for _, e := range merged {
		if seen[e] || !want[e] {
			t.Fatalf("%s %v: %v is there twice or comes from no source (sources %v)", what, merged, e, sources)
		}
		seen[e] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("%s %v lack some of the sources' %v", what, merged, sources)
	}
}

func mustPorts(t *testing.T, s string) []uint16 {
	p, err := rules.ParsePortList(s)
	if err != nil {
		t.Fatalf("an accepted annotation %q does not parse: %v", s, err)
	}
	return p
}

func mustCIDRs(t *testing.T, s string) []string {
	c, err := rules.ParseCIDRList(s)
	if err != nil {
		t.Fatalf("an accepted annotation %q does not parse: %v", s, err)
	}
	return c
}
