package cni

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

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
			mesh := &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{"interceptionMode":"`+tt.mode+`"}}`)}
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
	mesh := &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{"interceptionMode":"none"},"sidecar":{"localDNSProxy":{"enable":true}}}`)}
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
