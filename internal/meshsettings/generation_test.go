package meshsettings

import (
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestProfileAuto is the decision table of profile auto: each signal the
// cluster shows, the profile it picks and the words that say why.
func TestProfileAuto(t *testing.T) {
	pipy := meshtest.Pod(func(p *object.Pod) { p.Spec.Containers = []object.Container{{Name: "app"}, {Name: "sidecar"}} })
	tests := []struct {
		name    string
		mesh    *fakeMesh
		pod     *object.Pod
		want    rules.Profile
		because string
	}{
		{"osm-edge none mode", &fakeMesh{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{"interceptionMode":"none"}}`)}, pipy, rules.ProfileOSMv1, "osm-edge"},
		{"osm-edge DNS proxy, no mode", &fakeMesh{MC: meshtest.MeshConfig(t, "v1alpha2", `{"sidecar":{"localDNSProxy":{"enable":true}}}`)}, pipy, rules.ProfileOSMv1, "osm-edge"},
		{"OSM v1.1+ (v1alpha2)", &fakeMesh{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{}}`)}, meshtest.Pod(), rules.ProfileOSMv1, "OSM v1.1+ or osm-edge"},
		{"OSM v1.0.x (v1alpha1)", &fakeMesh{MC: meshtest.MeshConfig(t, "v1alpha1", `{"traffic":{"enableEgress":true}}`)}, meshtest.Pod(), rules.ProfileOSMv10, "OSM v1.0.x"},
		{"OSM v0.9-v0.11 (v1alpha1 with useHTTPSIngress)", &fakeMesh{MC: meshtest.MeshConfig(t, "v1alpha1", `{"traffic":{"useHTTPSIngress":false}}`)}, meshtest.Pod(), rules.ProfileOSMv0, "OSM v0.9-v0.11"},
		{"OSM v0.8 (osm-config)", &fakeMesh{CM: meshtest.SeedConfigMap()}, meshtest.Pod(), rules.ProfileOSMv0, "OSM v0.8 or older"},
		{"nothing, Envoy", &fakeMesh{}, meshtest.Pod(), rules.ProfileOSMv0, "troubleshooting guide"},
		{"nothing, Pipy", &fakeMesh{}, pipy, rules.ProfileOSMv1, "osm-edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mesh, err := gather(tt.mesh)
			if err != nil {
				t.Fatal(err)
			}
			got := ChooseProfile("", mesh, tt.pod)
			if got.Profile != tt.want || got.Mismatch || !strings.HasPrefix(got.Reason, "auto: ") || !strings.Contains(got.Reason, tt.because) {
				t.Errorf("ChooseProfile = %+v, want %s because %q", got, tt.want, tt.because)
			}
			// A configured profile wins; where it is another generation
			// than the cluster's, the choice says so.
			for _, p := range rules.Profiles {
				c := ChooseProfile(p, mesh, tt.pod)
				if c.Profile != p || c.Mismatch != (p != tt.want) || (c.Mismatch && !strings.Contains(c.Reason, "which is profile "+string(tt.want))) {
					t.Errorf("configured %s: %+v", p, c)
				}
			}
		})
	}
}
