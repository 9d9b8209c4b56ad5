package cnirun

import (
	"net/netip"
	"strings"
	"testing"
)

// TestVariantSharesTheNetwork: a Variant changes mesh-cni's settings and
// the version, and nothing that would put its pods on another segment or
// address pool.
func TestVariantSharesTheNetwork(t *testing.T) {
	n := New(t, Options{BinDir: "/nonexistent", Subnet: netip.MustParsePrefix("10.229.0.0/24"),
		AgentSocket: "/agent.sock", MeshSettings: `"logLevel": "debug"`})
	v := n.Variant(t, `"profile": "osm-v1"`, "0.4.0")
	if v.Name != n.Name || v.Bridge != n.Bridge || v.CNI() != n.CNI() || v.Recorder != n.Recorder {
		t.Errorf("variant %+v left network %+v", v, n)
	}
	if got := v.Chain(true); got.CNIVersion != "0.4.0" || !strings.Contains(string(got.Bytes), `"profile": "osm-v1"`) ||
		strings.Contains(string(got.Bytes), "logLevel") || !strings.Contains(string(got.Bytes), n.ipamDir) {
		t.Errorf("variant chain:\n%s", got.Bytes)
	}
	if got := n.Chain(true); got.CNIVersion != "1.0.0" || !strings.Contains(string(got.Bytes), `"logLevel": "debug"`) {
		t.Errorf("Variant changed the original chain:\n%s", got.Bytes)
	}
	if keep := n.Variant(t, "", ""); keep.Chain(false).CNIVersion != "1.0.0" {
		t.Errorf("empty cniVersion did not keep 1.0.0: %s", keep.Chain(false).CNIVersion)
	}
}
