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
	// traffic is the MeshConfig's spec.traffic ("" for no MeshConfig);
	// configMap the osm-config ConfigMap's data (nil for none).
	traffic   string
	configMap map[string]string
	// annotations of the pod; broken: it cannot start, wait for its failure.
	annotations map[string]string
	broken      bool
}

// guideStates sets up each of States.
var guideStates = map[string]guideState{
	"defaults":          {},
	"broken-annotation": {annotations: map[string]string{portAnnotation: "70000"}, broken: true},
	"ip-exclusions": {
		traffic:   `{outboundIPRangeExclusionList: ["1.1.1.1/32", "2.2.2.2/24"]}`,
		configMap: map[string]string{"outbound_ip_range_exclusion_list": "1.1.1.1/32, 2.2.2.2/24"},
	},
	"port-exclusions": {
		traffic:     `{outboundPortExclusionList: [6379, 7070]}`,
		configMap:   map[string]string{"outbound_port_exclusion_list": "6379, 7070"},
		annotations: map[string]string{portAnnotation: "8080"},
	},
}

// runGuide runs every command of a guide against the cluster, each after
// setting up the state the guide says it needs, and checks its output is
// what the guide shows. The sidecar container is named as the guide's mesh
// names it.
func (s *suite) runGuide(t *testing.T, file, sidecar string) {
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
		s.meshConfig(t, "")
		s.must(t, "delete", "configmap", "osm-config", "-n", nsMesh, "--ignore-not-found")
	})
	current := ""
	for _, st := range steps {
		if st.State != current {
			s.setGuideState(t, st.State, sidecar)
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
func (s *suite) setGuideState(t *testing.T, name, sidecar string) {
	t.Helper()
	st, ok := guideStates[name]
	if !ok {
		t.Fatalf("no set-up for e2e-state %q", name)
	}
	start := time.Now()
	s.meshConfig(t, st.traffic)
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
	p := pod{Name: guidePod, Namespace: nsTest, Sidecar: sidecar, Annotations: st.annotations}
	s.create(t, p.manifest())
	if st.broken {
		s.waitEvent(t, p, "RedirectionFailed", 60*time.Second)
	} else {
		s.waitReady(t, p)
		s.waitEvent(t, p, "RedirectionConfigured", 10*time.Second)
	}
	t.Logf("e2e-state %s set up in %.1fs", name, time.Since(start).Seconds())
}
