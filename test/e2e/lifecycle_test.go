//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

const (
	// pluginPath is where deploy/'s installer puts the plugin on the node.
	pluginPath = "/opt/cni/bin/mesh-cni"
	// agentSocket is where the installer's node agent serves the plugin,
	// in the DaemonSet's run dir.
	agentSocket = "/var/run/mesh-cni/agent.sock"
	// wireRecord is the plugin's record of its netlink writer's comparison.
	wireRecord = "/var/run/mesh-cni/nft-wire"
	// oldKubeconfig is where installers before the node agent wrote the
	// plugin's credentials; no credential goes onto the node any more.
	oldKubeconfig = "/var/run/mesh-cni/kubeconfig"
	// conflists is the node's CNI chain: the first conflist, lexically, is
	// the one containerd uses (the harness and kind have exactly one).
	conflists = "/etc/cni/net.d/*.conflist"
)

// testInstall applies deploy/ as it is and waits for the DaemonSet to be
// Ready; then the plugin is on the node and last in its CNI chain.
func (s *suite) testInstall(t *testing.T) {
	s.deploy(t)
	s.checkInstalled(t, true)
}

// deploy runs `kubectl apply -k deploy/` and waits for the rollout.
func (s *suite) deploy(t *testing.T) {
	t.Helper()
	start := time.Now()
	// deploy/'s Role lives in the mesh's namespace, which OSM's install
	// makes before mesh-cni is applied.
	s.ensureNamespace(t, nsMesh)
	out := s.must(t, "apply", "-k", "deploy/")
	t.Logf("kubectl apply -k deploy/:\n%s", out)
	if _, err := s.kubectl("rollout", "status", "daemonset/mesh-cni", "-n", "mesh-cni", "--timeout=180s"); err != nil {
		desc, _ := s.kubectl("describe", "pods", "-n", "mesh-cni")
		logs, _ := s.kubectl("logs", "-n", "mesh-cni", "daemonset/mesh-cni", "--tail=50")
		t.Fatalf("DaemonSet did not roll out: %v\n%s\n--- installer logs:\n%s", err, desc, logs)
	}
	var ds struct {
		Status struct{ DesiredNumberScheduled, NumberReady int }
	}
	if err := json.Unmarshal([]byte(s.must(t, "get", "daemonset", "mesh-cni", "-n", "mesh-cni", "-o", "json")), &ds); err != nil {
		t.Fatalf("parsing the DaemonSet: %v", err)
	}
	if ds.Status.DesiredNumberScheduled < 1 || ds.Status.NumberReady != ds.Status.DesiredNumberScheduled {
		t.Fatalf("DaemonSet mesh-cni: %d of %d ready", ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
	}
	t.Logf("DaemonSet mesh-cni Ready (%d/%d) %.1fs after kubectl apply", ds.Status.NumberReady, ds.Status.DesiredNumberScheduled, time.Since(start).Seconds())
}

// chainPlugin is an entry of the node's CNI chain, as far as the suite
// reads it.
type chainPlugin struct {
	Type              string
	ExcludeNamespaces []string `json:"excludeNamespaces"`
}

// chain returns the entries of the node's CNI chain, in order.
func (s *suite) chain(t *testing.T) []chainPlugin {
	t.Helper()
	files, err := s.shell("ls "+conflists, true)
	if err != nil {
		t.Fatalf("listing %s on the node: %v: %s", conflists, err, files)
	}
	first := strings.Fields(files)[0]
	var conf struct{ Plugins []chainPlugin }
	raw := s.nodeFile(t, first)
	if err := json.Unmarshal([]byte(raw), &conf); err != nil {
		t.Fatalf("parsing %s: %v\n%s", first, err, raw)
	}
	return conf.Plugins
}

// chainTypes returns the plugin types of the node's CNI chain, in order.
func (s *suite) chainTypes(t *testing.T) []string {
	t.Helper()
	var types []string
	for _, p := range s.chain(t) {
		types = append(types, p.Type)
	}
	return types
}

// checkInstalled checks the plugin binary, its chain entry and the node
// agent's socket: present (the entry last), or all gone. No kubeconfig is
// on the node either way.
func (s *suite) checkInstalled(t *testing.T, want bool) {
	t.Helper()
	types := s.chainTypes(t)
	last := types[len(types)-1] == "mesh-cni"
	count := strings.Count(" "+strings.Join(types, " ")+" ", " mesh-cni ")
	if want && (!last || count != 1) {
		t.Errorf("node's CNI chain is %v: want mesh-cni last, once", types)
	}
	if !want && count != 0 {
		t.Errorf("node's CNI chain is %v: want no mesh-cni", types)
	}
	for _, path := range []string{pluginPath, agentSocket} {
		if has := s.nodeHas(t, path); has != want {
			t.Errorf("%s on the node: present=%v, want %v", path, has, want)
		}
	}
	if s.nodeHas(t, oldKubeconfig) {
		t.Errorf("%s is on the node: the installer must keep its credentials in its pod", oldKubeconfig)
	}
	t.Logf("node's CNI chain: %v; %s and %s present: %v", types, pluginPath, agentSocket, want)
}

// testUninstallReinstall deletes the DaemonSet: the plugin and its entry
// go, running pods keep working, new pods start without rules; applying
// deploy/ again brings it all back.
func (s *suite) testUninstallReinstall(t *testing.T) {
	// The meshed pods so far had their rules written over netlink, after
	// the plugin compared its writer with the node's iptables-nft-restore
	// and recorded the verdict in the run dir; uninstall removes it.
	if record, err := s.shell("cat "+wireRecord, true); err != nil || !strings.HasSuffix(record, "\nequal\n") {
		t.Errorf("%s on the node = %q, %v; want the netlink writer found equal to iptables-nft-restore", wireRecord, record, err)
	}
	s.must(t, "delete", "daemonset", "mesh-cni", "-n", "mesh-cni", "--wait=true", "--timeout=90s")
	s.waitInstallersGone(t)
	s.checkInstalled(t, false)
	if s.nodeHas(t, wireRecord) {
		t.Errorf("%s is left on the node after uninstall", wireRecord)
	}
	left, _ := s.shell("ls -R /var/run/mesh-cni", true)
	t.Logf("left in /var/run/mesh-cni (the DaemonSet's hostPath; kubelet made it):\n%s", left)

	// Pods started before keep their rules and their traffic.
	target := s.ip[s.plainA.Name] + ":8080"
	s.expectLanding(t, s.meshClient, "app", target, landing{"sidecar-outbound", target, s.meshClient.Name})
	s.expectLanding(t, s.plainB, "app", target, landing{"app", "8080", s.plainA.Name})
	// A meshed pod created now starts, without rules.
	late := pod{Name: "mesh-uninstalled", Namespace: nsApps, Sidecar: "envoy"}
	s.start(t, late)
	s.expectLanding(t, late, "app", target, landing{"app", "8080", s.plainA.Name})
	if evs := s.events(t, late, "RedirectionConfigured"); len(evs) != 0 {
		t.Errorf("pod created without mesh-cni installed has a RedirectionConfigured event: %+v", evs)
	}

	s.deploy(t)
	s.checkInstalled(t, true)
	again := pod{Name: "mesh-reinstalled", Namespace: nsApps, Sidecar: "envoy"}
	s.start(t, again)
	s.expectLanding(t, again, "app", target, landing{"sidecar-outbound", target, again.Name})
}

// installMeshConfigCRD applies OSM's MeshConfig CRD and waits until both
// versions are served.
func (s *suite) installMeshConfigCRD(t *testing.T) {
	t.Helper()
	run := func(stdin []byte, args ...string) (string, error) { return s.kubectlStdin(string(stdin), args...) }
	if err := cluster.InstallMeshConfigCRDWith(run); err != nil {
		t.Fatalf("installing the MeshConfig CRD: %v", err)
	}
}
