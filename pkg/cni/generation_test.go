package cni

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// meshConfigAt decodes a MeshConfig read at apiVersion.
func meshConfigAt(t *testing.T, apiVersion, spec string) *object.MeshConfig {
	t.Helper()
	var mc object.MeshConfig
	if err := json.Unmarshal([]byte(`{"apiVersion":"config.openservicemesh.io/`+apiVersion+`","spec":`+spec+`}`), &mc); err != nil {
		t.Fatal(err)
	}
	return &mc
}

// TestProfileAuto is the decision table of profile auto: each signal the
// cluster shows, the profile it picks and the words that say why.
func TestProfileAuto(t *testing.T) {
	pipy := pod(func(p *object.Pod) { p.Spec.Containers = []object.Container{{Name: "app"}, {Name: "sidecar"}} })
	tests := []struct {
		name    string
		mesh    *fakeMesh
		pod     *object.Pod
		want    rules.Profile
		because string
	}{
		{"osm-edge none mode", &fakeMesh{mc: meshConfigAt(t, "v1alpha2", `{"traffic":{"interceptionMode":"none"}}`)}, pipy, rules.ProfileOSMv1, "osm-edge"},
		{"osm-edge DNS proxy, no mode", &fakeMesh{mc: meshConfigAt(t, "v1alpha2", `{"sidecar":{"localDNSProxy":{"enable":true}}}`)}, pipy, rules.ProfileOSMv1, "osm-edge"},
		{"OSM v1.1+ (v1alpha2)", &fakeMesh{mc: meshConfigAt(t, "v1alpha2", `{"traffic":{}}`)}, pod(), rules.ProfileOSMv1, "OSM v1.1+ or osm-edge"},
		{"OSM v1.0.x (v1alpha1)", &fakeMesh{mc: meshConfigAt(t, "v1alpha1", `{"traffic":{"enableEgress":true}}`)}, pod(), rules.ProfileOSMv10, "OSM v1.0.x"},
		{"OSM v0.9-v0.11 (v1alpha1 with useHTTPSIngress)", &fakeMesh{mc: meshConfigAt(t, "v1alpha1", `{"traffic":{"useHTTPSIngress":false}}`)}, pod(), rules.ProfileOSMv0, "OSM v0.9-v0.11"},
		{"OSM v0.8 (osm-config)", &fakeMesh{cm: seedConfigMap()}, pod(), rules.ProfileOSMv0, "OSM v0.8 or older"},
		{"nothing, Envoy", &fakeMesh{}, pod(), rules.ProfileOSMv0, "troubleshooting guide"},
		{"nothing, Pipy", &fakeMesh{}, pipy, rules.ProfileOSMv1, "osm-edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := testConf(t, "")
			mesh, err := gatherMeshSettings(context.Background(), tt.mesh, conf)
			if err != nil {
				t.Fatal(err)
			}
			got := chooseProfile(conf.profile, mesh, tt.pod)
			if got.profile != tt.want || got.mismatch || !strings.HasPrefix(got.reason, "auto: ") || !strings.Contains(got.reason, tt.because) {
				t.Errorf("chooseProfile = %+v, want %s because %q", got, tt.want, tt.because)
			}
			// A configured profile wins; where it is another generation
			// than the cluster's, the choice says so.
			for _, p := range rules.Profiles {
				c := chooseProfile(p, mesh, tt.pod)
				if c.profile != p || c.mismatch != (p != tt.want) || (c.mismatch && !strings.Contains(c.reason, "which is profile "+string(tt.want))) {
					t.Errorf("configured %s: %+v", p, c)
				}
			}
		})
	}
}

// confWithPrev is a parsed config with the bridge plugin's dual-stack
// result as prevResult, as ADD gets it.
func confWithPrev(t *testing.T, profile string) *NetConf {
	t.Helper()
	prev, err := os.ReadFile(filepath.Join("testdata", "prevresult-bridge-1.0.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := parseConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","profile":"`+profile+`","prevResult":`+string(prev)+`}`), true)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// TestInterceptionMode is the decision table of osm-edge's interception
// modes, through planPod as ADD and CHECK run it.
func TestInterceptionMode(t *testing.T) {
	pipy := pod(func(p *object.Pod) { p.Spec.Containers = []object.Container{{Name: "app"}, {Name: "sidecar"}} })
	tests := []struct {
		mode     string
		skip     string
		wantErr  string
		wantSets bool
	}{
		{"", "", "", true},
		{"none", "", "", true},
		{"iptables", "", "", true},
		{"ebpf", "interceptionMode is ebpf: osm-edge's eBPF interceptor", "", false},
		{"EBPF", "", `invalid interception mode "EBPF" in MeshConfig osm-system/osm-mesh-config (config.openservicemesh.io/v1alpha2) field spec.traffic.interceptionMode`, false},
	}
	for _, tt := range tests {
		t.Run("mode "+tt.mode, func(t *testing.T) {
			mesh := &fakeMesh{mc: meshConfigAt(t, "v1alpha2", `{"traffic":{"interceptionMode":"`+tt.mode+`"}}`)}
			pl, err := planPod(context.Background(), mesh, confWithPrev(t, ""), pipy)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "pod test/web-1") {
					t.Fatalf("error %v, want %q naming the pod", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (len(pl.sets) > 0) != tt.wantSets || (tt.skip == "") != (pl.skip == "") || !strings.Contains(pl.skip, tt.skip) {
				t.Errorf("plan = %d sets, skip %q; want sets %v, skip %q", len(pl.sets), pl.skip, tt.wantSets, tt.skip)
			}
			if tt.wantSets && pl.sets[0].Profile != rules.ProfileOSMv1 {
				t.Errorf("profile %s, want osm-v1 for osm-edge", pl.sets[0].Profile)
			}
		})
	}
}

// TestLocalDNSProxy: osm-edge's DNS proxy setting reaches the rules, and a
// configured profile that has no DNS rule fails the pod naming why, rather
// than leaving it with a resolver nothing answers.
func TestLocalDNSProxy(t *testing.T) {
	mesh := &fakeMesh{mc: meshConfigAt(t, "v1alpha2", `{"traffic":{"interceptionMode":"none"},"sidecar":{"localDNSProxy":{"enable":true}}}`)}
	pl, err := planPod(context.Background(), mesh, confWithPrev(t, ""), pod())
	if err != nil {
		t.Fatal(err)
	}
	if doc := rules.RenderOSMInit(pl.sets[0]); !strings.Contains(doc, "\n-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300\n") {
		t.Errorf("no DNS rule:\n%s", doc)
	}
	if _, err := planPod(context.Background(), mesh, confWithPrev(t, "osm-v0"), pod()); err == nil || !strings.Contains(err.Error(), "profile osm-v0 has no local DNS proxy rule") {
		t.Errorf("osm-v0 with the DNS proxy on: %v", err)
	}
}
