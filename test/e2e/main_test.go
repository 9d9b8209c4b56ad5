//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Namespaces the suite creates. The guide's pod lives in "test", as in OSM's
// guide; OSM's settings in "osm-system".
const (
	nsApps = "e2e"
	nsMesh = "osm-system"
	nsTest = "test"
)

// suite is the cluster with mesh-cni installed and the pods every scenario
// talks to.
type suite struct {
	*env
	// plainA and plainB are unmeshed peers; meshWeb and meshClient are meshed
	// (sidecar "envoy"), created before any MeshConfig exists.
	plainA, plainB, meshWeb, meshClient pod
	ip                                  map[string]string // pod name -> IP
	// osmScript is OSM v1.2.4's osm-init script for the default settings
	// (the fault tests' pods carry it).
	osmScript string
}

// TestE2E runs the whole suite in order on one cluster: the DaemonSet rollout,
// traffic through meshed pods, every exclusion source, scope, failures,
// events, osm-edge's DNS proxy and interception modes, both troubleshooting
// guides, OSM's own injector, the fault tests, uninstall/reinstall, and the
// Helm chart's install, upgrade and uninstall. `-run 'TestE2E/faults'` (or
// any other step) runs the required steps too.
func TestE2E(t *testing.T) {
	start := time.Now()
	e := newEnv(t)
	// The guides' outputs are kubectl's: say which one printed them.
	if v, err := e.kubectl("version", "--client"); err == nil {
		t.Logf("%s: %s", e.kubectlBin, strings.SplitN(v, "\n", 2)[0])
	}
	buildImages(t, e)
	s := &suite{env: e, ip: map[string]string{}}
	if e.external {
		t.Cleanup(func() { s.cleanUp(t) })
	}
	// Registered after the node's tear-down, so it runs before it.
	t.Cleanup(func() {
		if t.Failed() {
			s.diagnose(t)
		}
	})
	steps := []struct {
		name string
		run  func(*testing.T)
		// required: later steps make no sense without it.
		required bool
	}{
		{"install", s.testInstall, true},
		{"fixtures", s.startFixtures, true},
		{"redirection", s.testRedirection, false},
		{"exclusions", s.testExclusions, false},
		{"least privilege", s.testLeastPrivilege, false},
		{"scope", s.testScope, false},
		{"bad annotation", s.testBadAnnotation, false},
		{"describe shows RedirectionConfigured", s.testDescribe, false},
		{"osm-edge", s.testOSMEdge, false},
		{"guide-en", func(t *testing.T) { s.runGuide(t, Guides[0]) }, false},
		{"guide-ja", func(t *testing.T) { s.runGuide(t, Guides[1]) }, false},
		// After the guides: OSM's CRDs replace the suite's MeshConfig CRD
		// (and prune osm-edge's fields) until the step ends.
		{"OSM v1.2.4's injector", s.testOSMInjector, false},
		{"faults", s.testFaults, false},
		{"uninstall and reinstall", s.testUninstallReinstall, false},
		// Last: it replaces deploy/ with the chart and uninstalls it.
		{"helm install, upgrade, uninstall", s.testHelm, false},
	}
	for _, st := range steps {
		t0 := time.Now()
		ran := false
		ok := t.Run(st.name, func(t *testing.T) {
			ran = true
			st.run(t)
		})
		if !ran && st.required {
			// -run chose later steps only: they need this one all the same.
			st.run(t)
			ok = !t.Failed()
		}
		t.Logf("%s: %.1fs", st.name, time.Since(t0).Seconds())
		if !ok && st.required {
			t.Fatalf("%s failed: the rest of the suite needs it", st.name)
		}
	}
	t.Logf("e2e suite ran in %.1fs", time.Since(start).Seconds())
}

// startFixtures starts the peers every traffic scenario uses.
func (s *suite) startFixtures(t *testing.T) {
	s.ensureNamespace(t, nsApps)
	s.plainA = pod{Name: "plain-a", Namespace: nsApps}
	s.plainB = pod{Name: "plain-b", Namespace: nsApps}
	s.meshWeb = pod{Name: "mesh-web", Namespace: nsApps, Sidecar: "envoy"}
	s.meshClient = pod{Name: "mesh-client", Namespace: nsApps, Sidecar: "envoy"}
	all := []pod{s.plainA, s.plainB, s.meshWeb, s.meshClient}
	for _, p := range all {
		s.create(t, p.manifest())
	}
	for _, p := range all {
		s.waitReady(t, p)
		s.ip[p.Name] = s.podIP(t, p)
	}
	t.Logf("pod IPs: %v", s.ip)
}

// cleanUp removes what the suite created on a cluster it did not start (the
// local node is torn down whole).
func (s *suite) cleanUp(t *testing.T) {
	// The Helm step uninstalls its release itself, unless it failed first.
	uninstall := exec.Command(s.helmBin, "uninstall", "mesh-cni", "-n", "mesh-cni", "--ignore-not-found", "--wait")
	uninstall.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	if out, err := uninstall.CombinedOutput(); err != nil {
		t.Errorf("cleaning up: helm uninstall: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"delete", "namespace", nsApps, nsTest, nsMesh, "--ignore-not-found", "--wait=true", "--timeout=120s"},
		{"delete", "pod", "-n", "kube-system", "e2e-kube-system", "--ignore-not-found"},
		{"delete", "-k", "deploy/", "--ignore-not-found", "--wait=true", "--timeout=120s"},
		{"delete", "crd", "meshconfigs.config.openservicemesh.io", "--ignore-not-found"},
	} {
		if _, err := s.kubectl(args...); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	}
}

// diagnose logs what explains most failures: the installer's pods, their
// logs (also of a restarted container) and the events of the test pods.
func (s *suite) diagnose(t *testing.T) {
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"describe", "pods", "-n", "mesh-cni"},
		{"logs", "-n", "mesh-cni", "daemonset/mesh-cni", "--tail=100"},
		{"logs", "-n", "mesh-cni", "daemonset/mesh-cni", "--previous", "--tail=100"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, err := s.kubectl(args...)
		t.Logf("diagnostics: kubectl %s (err: %v):\n%s", strings.Join(args, " "), err, out)
	}
}
