//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// OSM's names, as its injector and chart use them (osm-injection.md).
const (
	osmWebhookConfig = "osm-webhook-osm"
	osmRecord        = "mesh-cni.io/osm-init-command"
	// mesh-cni's webhook in deploy/.
	meshCNIWebhook       = "mesh-cni-webhook"
	meshCNIWebhookConfig = "osm-webhook-osm-mesh-cni"
	// Namespaces of the OSM scenarios: one enforcing Pod Security
	// baseline, one without Pod Security.
	nsOSMBaseline = "osm-baseline"
	nsOSMPlain    = "osm-plain"
)

// osmInjector is OSM v1.2.4's real injector, run on the node as a host
// process the way osm-injection.md shows.
type osmInjector struct {
	cmd *exec.Cmd
	log bytes.Buffer
}

// startOSMInjector applies OSM's CRDs and MeshConfig and starts the
// injector; it is stopped, its webhook configuration removed first, when
// the test ends, and the suite's own MeshConfig CRD put back.
func (s *suite) startOSMInjector(t *testing.T, traffic string) *osmInjector {
	t.Helper()
	bins, err := cluster.EnsureBinaries()
	if err != nil {
		t.Fatal(err)
	}
	s.must(t, "apply", "-f", filepath.Join(bins.OSMDir, "crds"))
	s.ensureNamespace(t, nsMesh)
	// The injector names its own pod in its certificates' owner and reads
	// nothing else of it: a placeholder that never runs.
	s.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: osm-injector, namespace: %s}
spec:
  nodeSelector: {mesh-cni.io/never: "true"}
  containers: [{name: placeholder, image: %s, imagePullPolicy: Never}]
---
apiVersion: v1
kind: Service
metadata: {name: osm-injector, namespace: %[1]s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: webhook, port: 9090}]
`, nsMesh, appImage))
	s.osmMeshConfig(t, traffic)
	inj := &osmInjector{}
	inj.cmd = exec.Command(filepath.Join(bins.OSMDir, "osm-injector"), "--kubeconfig", s.kubeconfig,
		"--mesh-name", "osm", "--osm-namespace", nsMesh, "--webhook-config-name", osmWebhookConfig,
		"--ca-bundle-secret-name", "osm-ca-bundle", "--certificate-manager", "tresor", "--osm-version", "v1.2.4")
	inj.cmd.Env = append(os.Environ(), "INJECTOR_POD_NAME=osm-injector", "OSM_DEFAULT_HEALTHCHECK_CONTAINER_IMAGE="+appImage)
	inj.cmd.Stdout, inj.cmd.Stderr = &inj.log, &inj.log
	if err := inj.cmd.Start(); err != nil {
		t.Fatalf("starting osm-injector: %v", err)
	}
	t.Cleanup(func() {
		// OSM's configuration is failurePolicy Fail and the injector never
		// removes it: delete it before the injector goes.
		s.kubectl("delete", "mutatingwebhookconfiguration", osmWebhookConfig, "--ignore-not-found")
		inj.cmd.Process.Kill()
		inj.cmd.Wait()
		if t.Failed() {
			t.Logf("osm-injector's log:\n%s", tail(inj.log.String(), 60))
		}
		s.kubectl("delete", "-f", filepath.Join(bins.OSMDir, "crds"), "--ignore-not-found")
		s.installMeshConfigCRD(t)
	})
	s.waitOSMInjector(t, inj)
	return inj
}

// waitOSMInjector waits until the injector answers /healthz and has
// written its webhook configuration.
func (s *suite) waitOSMInjector(t *testing.T, inj *osmInjector) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:9091/healthz")
		if err == nil {
			resp.Body.Close()
			if _, cerr := s.kubectl("get", "mutatingwebhookconfiguration", osmWebhookConfig); resp.StatusCode == 200 && cerr == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("osm-injector not serving after 90s (%v)\n%s", err, tail(inj.log.String(), 40))
		}
		time.Sleep(time.Second)
	}
}

// osmMeshConfig writes OSM's MeshConfig with the stand-in images and the
// given spec.traffic additions (YAML lines, indented by four).
func (s *suite) osmMeshConfig(t *testing.T, traffic string) {
	t.Helper()
	s.apply(t, fmt.Sprintf(`apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: %s}
spec:
  sidecar:
    enablePrivilegedInitContainer: false
    logLevel: error
    envoyImage: %s
    initContainerImage: %[2]s
    localProxyMode: Localhost
  traffic:
    enablePermissiveTrafficPolicyMode: true
    enableEgress: true
%s
  certificate:
    serviceCertValidityDuration: 24h
    certKeyBitSize: 2048
`, nsMesh, appImage, traffic))
}

// osmNamespace makes a namespace OSM monitors and injects, enforcing Pod
// Security baseline when asked.
func (s *suite) osmNamespace(t *testing.T, name string, baseline bool) {
	t.Helper()
	psa := ""
	if baseline {
		psa = "\n    pod-security.kubernetes.io/enforce: baseline"
	}
	s.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    openservicemesh.io/monitored-by: osm%s
  annotations:
    openservicemesh.io/sidecar-injection: enabled
`, name, psa))
}

// osmAppManifest is an application pod as its author writes it; OSM's
// injector adds the sidecar (envoy) and osm-init.
func osmAppManifest(namespace, name string, annotations map[string]string) string {
	var ann strings.Builder
	for k, v := range annotations {
		fmt.Fprintf(&ann, "\n    %s: %q", k, v)
	}
	meta := ""
	if ann.Len() > 0 {
		meta = "\n  annotations:" + ann.String()
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s%s
spec:
  terminationGracePeriodSeconds: 1
  enableServiceLinks: false
  containers:
  - name: app
    image: %s
    imagePullPolicy: Never
    command: ["/meshapp", "serve", "8080", "9090"]
`, name, namespace, meta, appImage)
}

// storedPod is the part of a stored pod the OSM scenarios look at.
type storedPod struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
		Labels      map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		InitContainers []podContainer `json:"initContainers"`
		Containers     []podContainer `json:"containers"`
	} `json:"spec"`
}

type podContainer struct {
	Name            string   `json:"name"`
	Command         []string `json:"command"`
	Args            []string `json:"args"`
	SecurityContext *struct {
		Privileged   *bool `json:"privileged"`
		Capabilities *struct {
			Add []string `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

func (s *suite) storedPod(t *testing.T, namespace, name string) storedPod {
	t.Helper()
	var p storedPod
	if err := json.Unmarshal([]byte(s.must(t, "get", "pod", "-n", namespace, name, "-o", "json")), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// privileged names the containers that ask for NET_ADMIN or privilege.
func (p storedPod) privileged() []string {
	var out []string
	for _, c := range append(append([]podContainer{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			continue
		}
		if (sc.Privileged != nil && *sc.Privileged) || (sc.Capabilities != nil && strings.Contains(strings.Join(sc.Capabilities.Add, ","), "NET_ADMIN")) {
			out = append(out, c.Name)
		}
	}
	return out
}

func (p storedPod) hasInit(name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// scratchRules runs an osm-init script on the node in a fresh network
// namespace, as osm-init ran it (sh -c, POD_IP in the environment), and
// lists what it leaves in the nat table, in podNAT's form.
func (s *suite) scratchRules(t *testing.T, script, podIP string) []string {
	t.Helper()
	f, err := os.CreateTemp("", "osm-init-*.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	f.WriteString(script)
	f.Close()
	ns := fmt.Sprintf("mesh-cni-e2e-osminit-%d", time.Now().UnixNano()%100000)
	out, err := s.shell(fmt.Sprintf(`ip netns add %[1]s && trap 'ip netns del %[1]s' EXIT && ip netns exec %[1]s env POD_IP=%[2]s sh %[3]s && ip netns exec %[1]s iptables-save -t nat`, ns, podIP, f.Name()), true)
	if err != nil {
		t.Fatalf("running the recorded osm-init script in a scratch netns: %v\n%s", err, out)
	}
	return natLines(out)
}

// testOSMInjector: the real OSM v1.2.4 injector shapes the pods; with
// mesh-cni's webhook they are admitted in a baseline namespace without
// osm-init, carry the recorded command, and get exactly what osm-init's
// script leaves; with the webhook down they keep osm-init (and Pod
// Security refuses them in the baseline namespace).
func (s *suite) testOSMInjector(t *testing.T) {
	a, b := s.ip[s.plainA.Name], s.ip[s.plainB.Name]
	s.must(t, "rollout", "status", "-n", "mesh-cni", "deployment/"+meshCNIWebhook, "--timeout=120s")
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
		if st.hasInit("osm-init") || len(st.privileged()) > 0 {
			t.Errorf("pod keeps osm-init (%v) or privileged containers %v", st.hasInit("osm-init"), st.privileged())
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
			s.must(t, "rollout", "status", "-n", "mesh-cni", "deployment/"+meshCNIWebhook, "--timeout=120s")
		})
		s.must(t, "wait", "-n", "mesh-cni", "--for=delete", "pod", "-l", "app="+meshCNIWebhook, "--timeout=60s")
		out, err := s.kubectlStdin(osmAppManifest(nsOSMBaseline, "osm-refused", nil), "create", "-f", "-")
		if err == nil || !strings.Contains(err.Error()+out, `violates PodSecurity "baseline:latest": non-default capabilities (container "osm-init" must not include "NET_ADMIN"`) {
			t.Errorf("pod created without mesh-cni's webhook in a baseline namespace: %v\n%s", err, out)
			s.kubectl("delete", "pod", "-n", nsOSMBaseline, "osm-refused", "--wait=false")
		}
		s.create(t, osmAppManifest(nsOSMPlain, "osm-kept", nil))
		st := s.storedPod(t, nsOSMPlain, "osm-kept")
		if !st.hasInit("osm-init") || st.Metadata.Annotations[osmRecord] != "" {
			t.Errorf("without the webhook the pod must keep osm-init and carry no record: osm-init %v, annotations %v", st.hasInit("osm-init"), st.Metadata.Annotations)
		}
		s.discard(t, nsOSMPlain, "osm-kept")
	})
}

// natLines is iptables-save output in podNAT's form: no comments, no
// counters.
func natLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			l, _, _ = strings.Cut(l, " [")
		}
		lines = append(lines, l)
	}
	return lines
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
