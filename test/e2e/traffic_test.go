//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Annotation is OSM's per-pod outbound port exclusion.
const portAnnotation = "openservicemesh.io/outbound-port-exclusion-list"

// expectLanding dials addr from a container of the pod and checks who answered.
func (s *suite) expectLanding(t *testing.T, from pod, containerName, addr string, want landing) {
	t.Helper()
	got := s.dial(t, from, containerName, addr)
	if got != want {
		t.Errorf("%s/%s (%s) -> %s: landed %q, want %q", from.Namespace, from.Name, containerName, addr, got, want)
		return
	}
	t.Logf("%s (%s) -> %s: %s", from.Name, containerName, addr, got)
}

// testRedirection: an app's outbound TCP lands on its own sidecar's 15001
// with the original destination intact; inbound lands on the sidecar's
// 15003; the proxy's uid 1500 and loopback go where they were sent.
func (s *suite) testRedirection(t *testing.T) {
	a, web := s.ip[s.plainA.Name], s.ip[s.meshWeb.Name]
	for _, tc := range []struct {
		name      string
		from      pod
		container string
		addr      string
		want      landing
	}{
		{"outbound to 15001, original destination kept", s.meshClient, "app", a + ":8080", landing{"sidecar-outbound", a + ":8080", s.meshClient.Name}},
		{"outbound to another port", s.meshClient, "app", a + ":9090", landing{"sidecar-outbound", a + ":9090", s.meshClient.Name}},
		{"outbound to a meshed pod", s.meshClient, "app", web + ":8080", landing{"sidecar-outbound", web + ":8080", s.meshClient.Name}},
		{"inbound to 15003", s.plainA, "app", web + ":8080", landing{"sidecar-inbound", web + ":8080", s.meshWeb.Name}},
		{"inbound on another port", s.plainA, "app", web + ":9090", landing{"sidecar-inbound", web + ":9090", s.meshWeb.Name}},
		{"uid 1500 not redirected", s.meshClient, "envoy", a + ":8080", landing{"app", "8080", s.plainA.Name}},
		{"loopback not redirected", s.meshClient, "app", "127.0.0.1:9090", landing{"app", "9090", s.meshClient.Name}},
		{"unmeshed pod to unmeshed pod", s.plainB, "app", a + ":8080", landing{"app", "8080", s.plainA.Name}},
	} {
		t.Run(tc.name, func(t *testing.T) { s.expectLanding(t, tc.from, tc.container, tc.addr, tc.want) })
	}
}

// meshConfig applies osm-system/osm-mesh-config with this spec.traffic (a
// YAML flow mapping); "" deletes it.
func (s *suite) meshConfig(t *testing.T, traffic string) {
	t.Helper()
	if traffic == "" {
		s.meshConfigSpec(t, "")
		return
	}
	s.meshConfigSpec(t, "{traffic: "+traffic+"}")
}

// meshConfigSpec applies osm-system/osm-mesh-config
// (config.openservicemesh.io/v1alpha2) with this spec (a YAML flow
// mapping); "" deletes it.
func (s *suite) meshConfigSpec(t *testing.T, spec string) {
	t.Helper()
	if spec == "" {
		s.must(t, "delete", "meshconfig", "osm-mesh-config", "-n", nsMesh, "--ignore-not-found")
		return
	}
	s.apply(t, fmt.Sprintf(`apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata:
  name: osm-mesh-config
  namespace: %s
spec: %s
`, nsMesh, spec))
}

// testExclusions proves the seed's three scenarios with traffic: each
// setting changed, then a pod created after the change bypasses the sidecar
// for what is excluded and only for that, while the pod created before the
// change keeps its rules.
func (s *suite) testExclusions(t *testing.T) {
	s.ensureNamespace(t, nsMesh)
	s.installMeshConfigCRD(t)
	a, b := s.ip[s.plainA.Name], s.ip[s.plainB.Name]
	direct := func(p pod, port string) landing { return landing{"app", port, p.Name} }
	for _, tc := range []struct {
		name        string
		traffic     string // MeshConfig spec.traffic
		annotations map[string]string
		excluded    []string // addresses that reach the app directly
		redirected  []string // addresses that still land on the sidecar
	}{
		{"MeshConfig outboundIPRangeExclusionList", fmt.Sprintf(`{outboundIPRangeExclusionList: ["%s/32"]}`, a), nil,
			[]string{a + ":8080", a + ":9090"}, []string{b + ":8080"}},
		{"MeshConfig outboundPortExclusionList", `{outboundPortExclusionList: [9090]}`, nil,
			[]string{a + ":9090", b + ":9090"}, []string{a + ":8080"}},
		{"pod annotation outbound-port-exclusion-list", "", map[string]string{portAnnotation: "8080"},
			[]string{a + ":8080", b + ":8080"}, []string{a + ":9090"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.meshConfig(t, tc.traffic)
			t.Cleanup(func() { s.meshConfig(t, "") })
			p := pod{Name: "mesh-excl-" + strings.ToLower(strings.Fields(tc.name)[len(strings.Fields(tc.name))-1]),
				Namespace: nsApps, Sidecar: "envoy", Annotations: tc.annotations}
			s.start(t, p)
			defer s.discard(t, p.Namespace, p.Name)
			for _, addr := range tc.excluded {
				peer := s.plainA
				if strings.HasPrefix(addr, b+":") {
					peer = s.plainB
				}
				s.expectLanding(t, p, "app", addr, direct(peer, addr[strings.LastIndex(addr, ":")+1:]))
				// Created before the change: still redirected.
				s.expectLanding(t, s.meshClient, "app", addr, landing{"sidecar-outbound", addr, s.meshClient.Name})
			}
			for _, addr := range tc.redirected {
				s.expectLanding(t, p, "app", addr, landing{"sidecar-outbound", addr, p.Name})
			}
			ev := s.waitEvent(t, p, "RedirectionConfigured", 10*time.Second)
			// Profile auto: a MeshConfig v1alpha2 is OSM v1.1+'s, an Envoy
			// pod without one gets the guide's chains.
			want := "profile osm-v1 (auto: OSM v1.1+ or osm-edge"
			if tc.traffic == "" {
				want = "profile osm-v0 (auto: no mesh settings"
			}
			if !strings.Contains(ev.Message, want) {
				t.Errorf("RedirectionConfigured event of %s lacks %q:\n%s", p.Name, want, ev.Message)
			}
			t.Logf("event: %s", ev.Message)
		})
	}
}
