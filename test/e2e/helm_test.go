//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// nsHelm holds the Helm step's meshed pods; its upgrade excludes it.
const nsHelm = "e2e-helm"

// testHelm installs the chart the README's way instead of deploy/: a
// meshed pod gets its rules; `helm upgrade --set` of a plugin setting
// (after the README's skipCleanup step) reaches the node's chain entry
// and the pods created after it; `helm uninstall` (after skipCleanup is
// set back) leaves the node as deploy/'s delete did.
func (s *suite) testHelm(t *testing.T) {
	s.must(t, "delete", "-k", "deploy/", "--wait=true", "--timeout=180s")
	s.waitInstallersGone(t)
	s.checkInstalled(t, false)
	before := s.nodeState(t)

	out := s.helm(t, "install", "mesh-cni", "charts/mesh-cni", "-n", "mesh-cni", "--create-namespace", "--wait", "--timeout=3m")
	if !strings.Contains(out, "kubectl -n mesh-cni rollout status daemonset/mesh-cni") {
		t.Errorf("helm install printed no NOTES on what to check:\n%s", out)
	}
	s.checkInstalled(t, true)
	s.ensureNamespace(t, nsHelm)
	target := s.ip[s.plainA.Name] + ":8080"
	meshed := pod{Name: "mesh-helm", Namespace: nsHelm, Sidecar: "envoy"}
	s.start(t, meshed)
	s.expectLanding(t, meshed, "app", target, landing{"sidecar-outbound", target, meshed.Name})
	s.waitEvent(t, meshed, "RedirectionConfigured", 30*time.Second)

	// The README's upgrade: skipCleanup first, on its own, which must not
	// roll the DaemonSet, and kubelet's copy of it in the installer's pod.
	gen := s.daemonSetGeneration(t)
	s.helm(t, "upgrade", "mesh-cni", "charts/mesh-cni", "-n", "mesh-cni", "--reuse-values", "--set", "skipCleanup=true", "--wait")
	if g := s.daemonSetGeneration(t); g != gen {
		t.Errorf("setting skipCleanup rolled the DaemonSet (generation %s -> %s)", gen, g)
	}
	s.waitMountedSkipCleanup(t, "true")
	s.helm(t, "upgrade", "mesh-cni", "charts/mesh-cni", "-n", "mesh-cni", "--reuse-values",
		"--set", "plugin.excludeNamespaces={kube-system,mesh-cni,"+nsHelm+"}", "--wait", "--timeout=3m")
	s.must(t, "rollout", "status", "daemonset/mesh-cni", "-n", "mesh-cni", "--timeout=180s")
	s.checkInstalled(t, true)
	if got := s.chainExcludes(t); !slices.Contains(got, nsHelm) {
		t.Errorf("after helm upgrade the chain entry excludes %v, want %s among them", got, nsHelm)
	}
	excluded := pod{Name: "mesh-helm-excluded", Namespace: nsHelm, Sidecar: "envoy"}
	s.start(t, excluded)
	s.expectLanding(t, excluded, "app", target, landing{"app", "8080", s.plainA.Name})
	s.expectLanding(t, meshed, "app", target, landing{"sidecar-outbound", target, meshed.Name})

	s.helm(t, "upgrade", "mesh-cni", "charts/mesh-cni", "-n", "mesh-cni", "--reuse-values", "--set", "skipCleanup=false", "--wait")
	s.waitMountedSkipCleanup(t, "false")
	s.helm(t, "uninstall", "mesh-cni", "-n", "mesh-cni", "--wait", "--timeout=3m")
	s.waitInstallersGone(t)
	s.checkInstalled(t, false)
	if after := s.nodeState(t); after != before {
		t.Errorf("after helm uninstall the node is\n%s\nwant it as deploy/'s delete left it:\n%s", after, before)
	}
	for _, obj := range []string{"clusterrole/mesh-cni", "clusterrole/mesh-cni-webhook", "clusterrolebinding/mesh-cni",
		"mutatingwebhookconfiguration/osm-webhook-osm-mesh-cni", "role/mesh-cni -n " + nsMesh, "daemonset/mesh-cni -n mesh-cni"} {
		if out, err := s.kubectl(append(strings.Fields("get --ignore-not-found -o name "), strings.Fields(obj)...)...); err != nil || out != "" {
			t.Errorf("after helm uninstall: kubectl get %s: %q %v", obj, out, err)
		}
	}
	s.must(t, "delete", "namespace", nsHelm, "mesh-cni", "--wait=true", "--timeout=120s")
}

// helm runs Helm against the cluster from the repository, with its own
// config and cache dirs, and fails the test if it fails.
func (s *suite) helm(t *testing.T, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(s.helmBin, args...)
	cmd.Dir = s.repo
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("helm %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// waitInstallersGone waits until no installer pod is left, or fails the
// test.
func (s *suite) waitInstallersGone(t *testing.T) {
	t.Helper()
	if _, err := s.kubectl("wait", "--for=delete", "pod", "-n", "mesh-cni", "-l", installerSelector, "--timeout=90s"); err != nil {
		t.Fatalf("installer pods did not go away: %v", err)
	}
}

func (s *suite) daemonSetGeneration(t *testing.T) string {
	t.Helper()
	return s.must(t, "get", "daemonset", "mesh-cni", "-n", "mesh-cni", "-o", "jsonpath={.metadata.generation}")
}

// waitMountedSkipCleanup waits until kubelet has written value into the
// skip-cleanup file of every installer pod's ConfigMap volume, which the
// installer reads at SIGTERM: the README's "wait about a minute". kubelet
// rewrites a ConfigMap volume when it syncs the pod, which it does about
// once a minute or when the pod changes; the README's shortcut, annotating
// the installer pods, makes that now (twice a step, a minute or more of
// the suite, on each tier).
func (s *suite) waitMountedSkipCleanup(t *testing.T, value string) {
	t.Helper()
	uids := strings.Fields(s.must(t, "get", "pod", "-n", "mesh-cni", "-l", installerSelector, "-o", "jsonpath={.items[*].metadata.uid}"))
	if len(uids) == 0 {
		t.Fatal("no installer pod")
	}
	s.must(t, "annotate", "pod", "-n", "mesh-cni", "-l", installerSelector, "--overwrite", "mesh-cni.io/config-synced-at="+time.Now().UTC().Format(time.RFC3339Nano))
	t0 := time.Now()
	defer func() {
		t.Logf("kubelet's copy of skip-cleanup in the installer pods is %q after %.1fs", value, time.Since(t0).Seconds())
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for _, uid := range uids {
		file := filepath.Join(s.kubeletRoot, "pods", uid, "volumes/kubernetes.io~configmap/config/skip-cleanup")
		for {
			got, err := s.shell("cat "+file, true)
			if err == nil && strings.TrimSpace(got) == value {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on the node is %q (%v), want %q", file, got, err, value)
			}
			time.Sleep(2 * time.Second)
		}
	}
}

// chainExcludes is excludeNamespaces of mesh-cni's entry in the node's
// chain.
func (s *suite) chainExcludes(t *testing.T) []string {
	t.Helper()
	for _, p := range s.chain(t) {
		if p.Type == "mesh-cni" {
			return p.ExcludeNamespaces
		}
	}
	t.Fatalf("no mesh-cni entry in the node's chain %v", s.chainTypes(t))
	return nil
}

// nodeState is what mesh-cni may touch on the node: the CNI configs (by
// content), the CNI bin dir's names and its run dir.
func (s *suite) nodeState(t *testing.T) string {
	t.Helper()
	out, err := s.shell("cd /etc/cni/net.d && sha256sum * && ls -A /opt/cni/bin && ls -AR /var/run/mesh-cni", true)
	if err != nil {
		t.Fatalf("reading the node's CNI state: %v\n%s", err, out)
	}
	return out
}
