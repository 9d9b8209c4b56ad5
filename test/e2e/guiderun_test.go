//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// guidePod is the pod OSM's guide looks at, by the guide's own name.
const guidePod = "test-58d4f8ff58-wtz4f"

// guideState is what a guide's e2e-state asks of the cluster: the mesh
// settings and the guide's pod.
type guideState struct {
	// meshConfig is the MeshConfig's spec, a YAML flow mapping ("" for no
	// MeshConfig); configMap the osm-config ConfigMap's data (nil for none).
	meshConfig string
	configMap  map[string]string
	// annotations of the pod; localDNSProxy shapes it for osm-edge's DNS
	// proxy; broken: it cannot start, wait for its failure.
	annotations   map[string]string
	localDNSProxy bool
	broken        bool
	// event is mesh-cni's event the started pod gets (RedirectionConfigured
	// unless set).
	event string
}

// guideMesh is how the guide's users' mesh names its sidecar and keeps its
// settings, in each state of the guide.
type guideMesh struct {
	sidecar string
	states  map[string]guideState
}

// osmConfig is OSM v0.8's osm-config ConfigMap: a few of its other keys,
// which mesh-cni ignores, and these.
func osmConfig(exclusions map[string]string) map[string]string {
	data := map[string]string{"egress": "false", "permissive_traffic_policy_mode": "true"}
	for k, v := range exclusions {
		data[k] = v
	}
	return data
}

// osmEdgeSpec is osm-edge's MeshConfig spec as its users run it with
// mesh-cni (interceptionMode none), with these spec.traffic fields and the
// local DNS proxy on or off.
func osmEdgeSpec(traffic string, dnsProxy bool) string {
	if traffic != "" {
		traffic = ", " + traffic
	}
	return fmt.Sprintf("{traffic: {interceptionMode: none, enableEgress: true%s}, sidecar: {localProxyMode: Localhost, localDNSProxy: {enable: %t}}}", traffic, dnsProxy)
}

// guideMeshes sets up each guide's States as its mesh keeps them.
var guideMeshes = map[string]guideMesh{
	MeshOSM: {sidecar: "envoy", states: map[string]guideState{
		"defaults":          {configMap: osmConfig(nil)},
		"broken-annotation": {configMap: osmConfig(nil), annotations: map[string]string{portAnnotation: "70000"}, broken: true},
		"ip-exclusions":     {configMap: osmConfig(map[string]string{"outbound_ip_range_exclusion_list": "1.1.1.1/32, 2.2.2.2/24"})},
		"port-exclusions": {configMap: osmConfig(map[string]string{"outbound_port_exclusion_list": "6379, 7070"}),
			annotations: map[string]string{portAnnotation: "8080"}},
	}},
	MeshOSMEdge: {sidecar: "sidecar", states: map[string]guideState{
		"defaults":          {meshConfig: osmEdgeSpec("", false)},
		"broken-annotation": {meshConfig: osmEdgeSpec("", false), annotations: map[string]string{portAnnotation: "70000"}, broken: true},
		"ip-exclusions":     {meshConfig: osmEdgeSpec(`outboundIPRangeExclusionList: ["1.1.1.1/32", "2.2.2.2/24"]`, false)},
		"port-exclusions": {meshConfig: osmEdgeSpec(`outboundPortExclusionList: [6379, 7070]`, false),
			annotations: map[string]string{portAnnotation: "8080"}},
		"local-dns-proxy": {meshConfig: osmEdgeSpec("", true), localDNSProxy: true},
		"ebpf":            {meshConfig: `{traffic: {interceptionMode: ebpf, enableEgress: true}}`, event: "RedirectionSkipped"},
	}},
}

// runGuide runs every command of a guide against the cluster, each after
// setting up the state the guide says it needs, and checks its output is
// what the guide shows. The settings and the pod are as the guide's mesh
// has them.
func (s *suite) runGuide(t *testing.T, g Guide) {
	file := g.File
	mesh, ok := guideMeshes[g.Mesh]
	if !ok {
		t.Fatalf("%s: no set-up for mesh %q", file, g.Mesh)
	}
	for _, st := range g.States {
		if _, ok := mesh.states[st]; !ok {
			t.Fatalf("%s: no set-up for e2e-state %q on %s", file, st, g.Mesh)
		}
	}
	data, err := os.ReadFile(filepath.Join(s.repo, file))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := ParseGuide(string(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	s.ensureNamespace(t, nsTest)
	s.ensureNamespace(t, nsMesh)
	s.installMeshConfigCRD(t)
	t.Cleanup(func() {
		s.remove(t, nsTest, guidePod)
		s.meshConfigSpec(t, "")
		s.must(t, "delete", "configmap", "osm-config", "-n", nsMesh, "--ignore-not-found")
	})
	current := ""
	for _, st := range steps {
		if st.State != current {
			s.setGuideState(t, st.State, mesh)
			current = st.State
		}
		onNode := strings.Contains(st.Command, "/etc/cni/") || strings.Contains(st.Command, "/opt/cni/")
		start := time.Now()
		out, err := s.shell(st.Command, onNode)
		where := fmt.Sprintf("%s:%d", file, st.Line)
		if err != nil {
			t.Errorf("%s: %s\nfailed: %v\n%s", where, st.Command, err, out)
			continue
		}
		if msg := Match(st.Expected, out); msg != "" {
			t.Errorf("%s: %s\n%s\n--- the guide shows:\n%s\n--- the command printed:\n%s", where, st.Command, msg,
				strings.Join(st.Expected, "\n"), out)
			continue
		}
		// The output goes into the log so a reader can compare it with the guide.
		t.Logf("%s: ok (%.1fs, state %s): $ %s\n%s", where, time.Since(start).Seconds(), st.State, st.Command, out)
	}
}

// setGuideState puts the mesh settings and the guide's pod in the state:
// the pod is recreated (and its old events deleted, so the guide's
// `.items[0]` is this pod's) after the settings change, as the guide says.
func (s *suite) setGuideState(t *testing.T, name string, mesh guideMesh) {
	t.Helper()
	st := mesh.states[name]
	start := time.Now()
	s.meshConfigSpec(t, st.meshConfig)
	s.must(t, "delete", "configmap", "osm-config", "-n", nsMesh, "--ignore-not-found")
	if st.configMap != nil {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: osm-config\n  namespace: %s\ndata:\n", nsMesh)
		for k, v := range st.configMap {
			fmt.Fprintf(&b, "  %s: %q\n", k, v)
		}
		s.create(t, b.String())
	}
	s.remove(t, nsTest, guidePod)
	s.must(t, "delete", "events", "-n", nsTest, "--field-selector", "involvedObject.name="+guidePod)
	p := pod{Name: guidePod, Namespace: nsTest, Sidecar: mesh.sidecar, Annotations: st.annotations, LocalDNSProxy: st.localDNSProxy}
	s.create(t, p.manifest())
	if st.broken {
		s.waitEvent(t, p, "RedirectionFailed", 60*time.Second)
	} else {
		s.waitReady(t, p)
		reason := st.event
		if reason == "" {
			reason = "RedirectionConfigured"
		}
		s.waitEvent(t, p, reason, 10*time.Second)
	}
	t.Logf("e2e-state %s set up in %.1fs", name, time.Since(start).Seconds())
}
