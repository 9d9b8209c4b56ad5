package meshsettings

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

type fakeMesh = meshtest.Fake

func meshConfig(t *testing.T, spec string) *object.MeshConfig {
	return meshtest.MeshConfig(t, "v1alpha2", spec)
}

// gather reads the settings where the plugin's defaults say.
func gather(r Reader) (Settings, error) {
	return Gather(context.Background(), r, "osm-system", "osm-mesh-config")
}

func TestGather(t *testing.T) {
	tests := []struct {
		name       string
		mesh       *fakeMesh
		wantSource string
		wantPorts  []uint16
		wantCIDRs  []string
		wantErr    string
	}{
		{"MeshConfig wins", &fakeMesh{MC: meshConfig(t, `{"traffic":{"outboundPortExclusionList":[6379,"7070"],"outboundIPRangeExclusionList":["1.1.1.1/32"]}}`), CM: meshtest.SeedConfigMap()},
			"MeshConfig osm-system/osm-mesh-config", []uint16{6379, 7070}, []string{"1.1.1.1/32"}, ""},
		{"ConfigMap when no MeshConfig", &fakeMesh{CM: meshtest.SeedConfigMap()},
			"ConfigMap osm-system/osm-config", []uint16{6379, 7070}, []string{"1.1.1.1/32", "2.2.2.2/24"}, ""},
		{"defaults when neither", &fakeMesh{}, "defaults", nil, nil, ""},
		{"MeshConfig API error is an error", &fakeMesh{MCErr: &agent.Error{Message: "503 unavailable", Transient: true}, CM: meshtest.SeedConfigMap()}, "", nil, nil, "503"},
		{"ConfigMap API error is an error", &fakeMesh{CMErr: &agent.Error{Message: "403 forbidden"}}, "", nil, nil, "403"},
		{"bad MeshConfig port", &fakeMesh{MC: meshConfig(t, `{"traffic":{"outboundPortExclusionList":[70000]}}`)}, "", nil, nil,
			`invalid port "70000" in MeshConfig osm-system/osm-mesh-config field spec.traffic.outboundPortExclusionList`},
		{"negative MeshConfig port", &fakeMesh{MC: meshConfig(t, `{"traffic":{"inboundPortExclusionList":[-7070]}}`)}, "", nil, nil,
			`invalid port "-7070" in MeshConfig osm-system/osm-mesh-config field spec.traffic.inboundPortExclusionList`},
		{"bad MeshConfig range", &fakeMesh{MC: meshConfig(t, `{"traffic":{"outboundIPRangeInclusionList":["foobar"]}}`)}, "", nil, nil,
			`invalid IP range "foobar" in MeshConfig osm-system/osm-mesh-config field spec.traffic.outboundIPRangeInclusionList`},
		{"bad MeshConfig interface", &fakeMesh{MC: meshConfig(t, `{"traffic":{"networkInterfaceExclusionList":["eth 0"]}}`)}, "", nil, nil,
			`in MeshConfig osm-system/osm-mesh-config field spec.traffic.networkInterfaceExclusionList`},
		{"bad local proxy mode", &fakeMesh{MC: meshConfig(t, `{"sidecar":{"localProxyMode":"Remote"}}`)}, "", nil, nil,
			`invalid local proxy mode "Remote" (want Localhost or PodIP) in MeshConfig osm-system/osm-mesh-config field spec.sidecar.localProxyMode`},
		{"bad ConfigMap port", &fakeMesh{CM: &object.ConfigMap{Data: map[string]string{"outbound_port_exclusion_list": "6379, x"}}}, "", nil, nil,
			`invalid port "x" in ConfigMap osm-system/osm-config key outbound_port_exclusion_list`},
		{"bad ConfigMap range", &fakeMesh{CM: &object.ConfigMap{Data: map[string]string{"outbound_ip_range_exclusion_list": "1.1.1.1"}}}, "", nil, nil,
			`invalid IP range "1.1.1.1" in ConfigMap osm-system/osm-config key outbound_ip_range_exclusion_list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gather(tt.mesh)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got.Source, tt.wantSource) || fmt.Sprint(got.OutboundPorts) != fmt.Sprint(tt.wantPorts) || fmt.Sprint(got.OutboundIPExclusions) != fmt.Sprint(tt.wantCIDRs) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestMeshConfigNotFoundFallsThroughOnlyOn404(t *testing.T) {
	f := &fakeMesh{MCErr: errors.New("connection refused")}
	if _, err := gather(f); err == nil || f.CMCalled {
		t.Fatalf("error %v, ConfigMap read %v: an unreachable API must not fall back to the ConfigMap", err, f.CMCalled)
	}
}

// TestSeedCommandLines rebuilds the troubleshooting guide's osm-init lines
// from its ConfigMap and annotation, as OSM merged them.
func TestSeedCommandLines(t *testing.T) {
	const v0Default = "iptables -t nat -N PROXY_INBOUND && iptables -t nat -N PROXY_IN_REDIRECT && iptables -t nat -N PROXY_OUTPUT && iptables -t nat -N PROXY_REDIRECT && iptables -t nat -A PROXY_REDIRECT -p tcp -j REDIRECT --to-port 15001 && iptables -t nat -A PROXY_REDIRECT -p tcp --dport 15000 -j ACCEPT && iptables -t nat -A OUTPUT -p tcp -j PROXY_OUTPUT && iptables -t nat -A PROXY_OUTPUT -m owner --uid-owner 1500 -j RETURN && iptables -t nat -A PROXY_OUTPUT -d 127.0.0.1/32 -j RETURN && iptables -t nat -A PROXY_OUTPUT -j PROXY_REDIRECT && iptables -t nat -A PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003 && iptables -t nat -A PREROUTING -p tcp -j PROXY_INBOUND && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15010 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15901 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15902 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp --dport 15903 -j RETURN && iptables -t nat -A PROXY_INBOUND -p tcp -j PROXY_IN_REDIRECT"
	tests := []struct {
		name        string
		cm          *object.ConfigMap
		annotations map[string]string
		want        string
	}{
		{"default", nil, nil, v0Default},
		{"ports from ConfigMap and annotation", &object.ConfigMap{Data: map[string]string{"outbound_port_exclusion_list": "6379, 7070"}},
			map[string]string{AnnotationOutboundPortExclusions: "8080"},
			v0Default + " && iptables -t nat -I PROXY_OUTPUT -p tcp --match multiport --dports 6379,7070,8080 -j RETURN"},
		{"IP ranges from ConfigMap", &object.ConfigMap{Data: map[string]string{"outbound_ip_range_exclusion_list": "1.1.1.1/32, 2.2.2.2/24"}}, nil,
			v0Default + " && iptables -t nat -I PROXY_OUTPUT -d 1.1.1.1/32 -j RETURN && iptables -t nat -I PROXY_OUTPUT -d 2.2.2.2/24 -j RETURN"},
		{"inbound ports from annotation", nil, map[string]string{AnnotationInboundPortExclusions: "30, 40"},
			v0Default + " && iptables -t nat -I PROXY_INBOUND -p tcp --match multiport --dports 30,40 -j RETURN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mesh, err := gather(&fakeMesh{CM: tt.cm})
			if err != nil {
				t.Fatal(err)
			}
			pd := meshtest.Pod(func(p *object.Pod) { p.Metadata.Annotations = tt.annotations })
			choice := ChooseProfile("", mesh, pd)
			cfg, err := PodConfig(choice.Profile, mesh, pd, nil)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := rules.Build(cfg, rules.IPv4)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules.RenderOSMInit(rs); got != tt.want {
				t.Errorf("osm-init line:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPodConfigMerge(t *testing.T) {
	mesh := Settings{
		Source:               "test",
		OutboundPorts:        []uint16{6379, 7070},
		InboundPorts:         []uint16{9090},
		OutboundIPExclusions: []string{"1.1.1.1/32", "2.2.2.2/24"},
		OutboundIPInclusions: []string{"3.3.3.3/32"},
		Interfaces:           []string{"eth1"},
		LocalProxyMode:       rules.LocalProxyPodIP,
	}
	p := meshtest.Pod(func(p *object.Pod) {
		p.Metadata.Annotations = map[string]string{
			AnnotationOutboundPortExclusions:    "8080, 7070",
			AnnotationInboundPortExclusions:     "9090,9091",
			AnnotationOutboundIPRangeExclusions: "2.2.2.2/24, 10.0.0.0/8",
			AnnotationOutboundIPRangeInclusions: "4.4.4.4/32",
		}
	})
	ips := []netip.Addr{netip.MustParseAddr("10.220.0.5")}
	cfg, err := PodConfig(rules.ProfileOSMv1, mesh, p, ips)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintln(cfg.OutboundPortExclusions, cfg.InboundPortExclusions, cfg.OutboundIPRangeExclusions, cfg.OutboundIPRangeInclusions, cfg.NetworkInterfaceExclusions, cfg.LocalProxyMode, cfg.PodIPs)
	// Ports: global first; IP ranges: the pod's first; interfaces global only.
	want := "[6379 7070 8080] [9090 9091] [2.2.2.2/24 10.0.0.0/8 1.1.1.1/32] [4.4.4.4/32 3.3.3.3/32] [eth1] PodIP [10.220.0.5]\n"
	if got != want {
		t.Errorf("merged:\n got %s\nwant %s", got, want)
	}
}

func TestPodConfigErrors(t *testing.T) {
	tests := []struct {
		name        string
		profile     rules.Profile
		mesh        Settings
		annotations map[string]string
		want        string
	}{
		{"port above 65535", rules.ProfileOSMv0, Settings{}, map[string]string{AnnotationOutboundPortExclusions: "70000"},
			`invalid port "70000" in annotation openservicemesh.io/outbound-port-exclusion-list on pod test/web-1`},
		{"negative port (OSM's own example)", rules.ProfileOSMv0, Settings{}, map[string]string{AnnotationOutboundPortExclusions: "-7070"},
			`invalid port "-7070" in annotation openservicemesh.io/outbound-port-exclusion-list on pod test/web-1`},
		{"port 0", rules.ProfileOSMv0, Settings{}, map[string]string{AnnotationInboundPortExclusions: "0"},
			`invalid port "0" in annotation openservicemesh.io/inbound-port-exclusion-list on pod test/web-1`},
		{"bad range", rules.ProfileOSMv0, Settings{}, map[string]string{AnnotationOutboundIPRangeExclusions: "foobar"},
			`invalid IP range "foobar" in annotation openservicemesh.io/outbound-ip-range-exclusion-list on pod test/web-1`},
		{"bad inclusion", rules.ProfileOSMv1, Settings{}, map[string]string{AnnotationOutboundIPRangeInclusions: "3.3.3.3/33"},
			`invalid IP range "3.3.3.3/33" in annotation openservicemesh.io/outbound-ip-range-inclusion-list on pod test/web-1`},
		{"empty entry", rules.ProfileOSMv0, Settings{}, map[string]string{AnnotationOutboundPortExclusions: "80,,90"},
			`in annotation openservicemesh.io/outbound-port-exclusion-list on pod test/web-1`},
		{"inclusion annotation on v0", rules.ProfileOSMv0, Settings{Source: "MeshConfig osm-system/osm-mesh-config"}, map[string]string{AnnotationOutboundIPRangeInclusions: "3.3.3.3/32"},
			`pod test/web-1, in its annotations: profile osm-v0 has no outbound IP range inclusions`},
		{"inclusion in the MeshConfig on v0", rules.ProfileOSMv0, Settings{Source: "MeshConfig osm-system/osm-mesh-config", OutboundIPInclusions: []string{"3.3.3.3/32"}}, nil,
			`pod test/web-1 with MeshConfig osm-system/osm-mesh-config: profile osm-v0 has no outbound IP range inclusions`},
		{"interfaces on v0", rules.ProfileOSMv0, Settings{Source: "MeshConfig x", Interfaces: []string{"eth1"}}, nil,
			`profile osm-v0 has no network interface exclusions`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PodConfig(tt.profile, tt.mesh, meshtest.Pod(func(p *object.Pod) { p.Metadata.Annotations = tt.annotations }), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
