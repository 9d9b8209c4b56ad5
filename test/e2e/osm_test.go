//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/osmhost"
	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// Names of the OSM scenarios.
const (
	osmRecord      = webhook.CommandAnnotation
	meshCNIWebhook = osmhost.MeshCNIWebhook
	// Namespaces of the OSM scenarios: one enforcing Pod Security
	// baseline, one without Pod Security.
	nsOSMBaseline = "osm-baseline"
	nsOSMPlain    = "osm-plain"
)

// startOSMInjector starts OSM v1.2.4's injector (test/osmhost, as `make
// demo` does) with these spec.traffic additions; it is stopped, its
// webhook configuration removed first, when the test ends, and the suite's
// own MeshConfig CRD put back.
func (s *suite) startOSMInjector(t *testing.T, traffic string) {
	t.Helper()
	bins, err := cluster.EnsureBinaries()
	if err != nil {
		t.Fatal(err)
	}
	o := osmhost.Options{Kubeconfig: s.kubeconfig, OSMDir: bins.OSMDir, AppImage: appImage, Traffic: traffic}
	var inj injector
	if s.external {
		inj = s.startNodeInjector(t, o)
	} else if inj, err = osmhost.Start(s.kubectlFunc, o); err != nil {
		t.Fatalf("starting OSM's injector: %v", err)
	}
	t.Cleanup(func() {
		if err := inj.Stop(); err != nil {
			t.Errorf("stopping osm-injector: %v", err)
		}
		if t.Failed() {
			t.Logf("osm-injector's log:\n%s", inj.LogTail(60))
		}
		s.kubectl("delete", "-f", filepath.Join(bins.OSMDir, "crds"), "--ignore-not-found")
		s.installMeshConfigCRD(t)
	})
}

// osmNamespace makes a namespace OSM monitors and injects, enforcing Pod
// Security baseline when asked.
func (s *suite) osmNamespace(t *testing.T, name string, baseline bool) {
	t.Helper()
	if baseline {
		s.apply(t, osmhost.MeshNamespace(name, osmhost.Baseline))
	} else {
		s.apply(t, osmhost.MeshNamespace(name))
	}
}

// osmAppManifest is an application pod as its author writes it; OSM's
// injector adds the sidecar (envoy) and osm-init.
func osmAppManifest(namespace, name string, annotations map[string]string) string {
	return osmhost.AppPod(namespace, name, appImage, annotations)
}

func (s *suite) storedPod(t *testing.T, namespace, name string) podcheck.Pod {
	t.Helper()
	p, err := podcheck.GetPod(s.kubectlFunc, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitWebhook waits until mesh-cni's webhook is rolled out.
func (s *suite) waitWebhook(t *testing.T) {
	t.Helper()
	if err := osmhost.WaitMeshCNIWebhook(s.kubectlFunc, 120*time.Second); err != nil {
		t.Fatal(err)
	}
}

// scratchRules runs an osm-init script on the node in a fresh network
// namespace, as osm-init ran it (sh -c, POD_IP in the environment), and
// lists what it leaves in the nat table, in podNAT's form.
func (s *suite) scratchRules(t *testing.T, script, podIP string) []string {
	t.Helper()
	ns := fmt.Sprintf("mesh-cni-e2e-osminit-%d", time.Now().UnixNano()%100000)
	// The script goes through stdin into a file on the node (which may be
	// a kind node container, not this machine).
	out, err := s.shellIn(fmt.Sprintf(`f=$(mktemp) && trap 'rm -f "$f"; ip netns del %[1]s 2>/dev/null' EXIT && cat >"$f" && ip netns add %[1]s && ip netns exec %[1]s env POD_IP=%[2]s sh "$f" && ip netns exec %[1]s iptables-save -t nat`, ns, podIP), true, strings.NewReader(script))
	if err != nil {
		t.Fatalf("running the recorded osm-init script in a scratch netns: %v\n%s", err, out)
	}
	return podcheck.NATLines(out)
}

// testOSMInjector: the real OSM v1.2.4 injector shapes the pods; with
// mesh-cni's webhook they are admitted in a baseline namespace without
// osm-init, carry the recorded command, and get exactly what osm-init's
// script leaves; with the webhook down they keep osm-init (and Pod
// Security refuses them in the baseline namespace).
func (s *suite) testOSMInjector(t *testing.T) {
	a, b := s.ip[s.plainA.Name], s.ip[s.plainB.Name]
	s.waitWebhook(t)
	// The guide's scenarios through OSM's injector: MeshConfig IP ranges
	// and ports, and the pod annotation.
	s.startOSMInjector(t, fmt.Sprintf("    outboundIPRangeExclusionList: [%q]\n    outboundPortExclusionList: [7070]", b+"/32"))
	s.osmNamespace(t, nsOSMBaseline, true)
	s.osmNamespace(t, nsOSMPlain, false)

	t.Run("injected pod admitted under baseline, without osm-init", func(t *testing.T) {
		name := "osm-web"
		s.create(t, osmAppManifest(nsOSMBaseline, name, map[string]string{portAnnotation: "9090"}))
		p := pod{Name: name, Namespace: nsOSMBaseline, Sidecar: "envoy"}
		s.waitReady(t, p)
		st := s.storedPod(t, nsOSMBaseline, name)
		if st.HasInit("osm-init") || len(st.Privileged()) > 0 {
			t.Errorf("pod keeps osm-init (%v) or privileged containers %v", st.HasInit("osm-init"), st.Privileged())
		}
		if st.Metadata.Labels["osm-proxy-uuid"] == "" {
			t.Errorf("OSM's injector did not inject the pod: labels %v", st.Metadata.Labels)
		}
		// mesh-cni's validation container ran first, on the real node,
		// as the proxy's uid without privilege, and found the rules.
		ran := s.must(t, "get", "pod", "-n", nsOSMBaseline, name, "-o", "jsonpath={.status.initContainerStatuses[0].name} {.status.initContainerStatuses[0].state.terminated.exitCode}")
		if ran != "mesh-cni-validation 0" {
			t.Errorf("first init container and exit code: %q, want mesh-cni-validation 0", ran)
		}
		t.Logf("validation: %s", strings.TrimSpace(s.must(t, "logs", "-n", nsOSMBaseline, name, "-c", "mesh-cni-validation")))
		record := st.Metadata.Annotations[osmRecord]
		for _, want := range []string{"iptables-restore --noflush <<EOF\n", "-A OSM_PROXY_OUTBOUND -d " + b + "/32 -j RETURN\n", "--dports 7070,9090 -j RETURN\n"} {
			if !strings.Contains(record, want) {
				t.Errorf("record lacks %q:\n%s", want, record)
			}
		}
		ip := s.podIP(t, p)
		if got, want := s.podNAT(t, p), s.scratchRules(t, record, ip); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the pod's nat table differs from what osm-init's script leaves:\n--- pod:\n%s\n--- osm-init:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		s.expectLanding(t, p, "app", a+":8080", landing{"sidecar-outbound", a + ":8080", name})
		s.expectLanding(t, p, "envoy", a+":8080", landing{"app", "8080", s.plainA.Name})
		s.expectLanding(t, p, "app", b+":8080", landing{"app", "8080", s.plainB.Name})
		// 7070 (the MeshConfig's) is in the record above; the peers listen
		// on 8080 and 9090, and 9090 is the annotation's.
		s.expectLanding(t, p, "app", a+":9090", landing{"app", "9090", s.plainA.Name})
		s.expectLanding(t, s.plainA, "app", ip+":8080", landing{"sidecar-inbound", ip + ":8080", name})
		// The record outlives the Events (an hour by default): with the
		// pod's events gone, describe still shows it.
		s.must(t, "delete", "events", "-n", nsOSMBaseline, "--field-selector", "involvedObject.name="+name)
		desc := s.must(t, "describe", "pod", "-n", nsOSMBaseline, name)
		// describe prints the annotation's lines indented under its key.
		if !strings.Contains(desc, osmRecord+":\n") || !strings.Contains(desc, " iptables-restore --noflush <<EOF\n") ||
			!strings.Contains(desc, " -A OSM_PROXY_OUTBOUND -d "+b+"/32 -j RETURN\n") || strings.Contains(desc, "RedirectionConfigured") {
			t.Errorf("describe after the events went does not show the record:\n%s", desc)
		}
	})

	t.Run("webhook down: osm-init kept, baseline refuses", func(t *testing.T) {
		s.must(t, "scale", "-n", "mesh-cni", "deployment/"+meshCNIWebhook, "--replicas=0")
		t.Cleanup(func() {
			s.must(t, "scale", "-n", "mesh-cni", "deployment/"+meshCNIWebhook, "--replicas=2")
			s.waitWebhook(t)
		})
		s.must(t, "wait", "-n", "mesh-cni", "--for=delete", "pod", "-l", "app="+meshCNIWebhook, "--timeout=60s")
		out, err := s.kubectlStdin(osmAppManifest(nsOSMBaseline, "osm-refused", nil), "create", "-f", "-")
		if err == nil || !strings.Contains(err.Error()+out, `violates PodSecurity "baseline:latest": non-default capabilities (container "osm-init" must not include "NET_ADMIN"`) {
			t.Errorf("pod created without mesh-cni's webhook in a baseline namespace: %v\n%s", err, out)
			s.kubectl("delete", "pod", "-n", nsOSMBaseline, "osm-refused", "--wait=false")
		}
		s.create(t, osmAppManifest(nsOSMPlain, "osm-kept", nil))
		st := s.storedPod(t, nsOSMPlain, "osm-kept")
		if !st.HasInit("osm-init") || st.Metadata.Annotations[osmRecord] != "" {
			t.Errorf("without the webhook the pod must keep osm-init and carry no record: osm-init %v, annotations %v", st.HasInit("osm-init"), st.Metadata.Annotations)
		}
		s.discard(t, nsOSMPlain, "osm-kept")
	})
}
