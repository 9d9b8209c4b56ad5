package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// OSM's names, as its chart and injector use them, and mesh-cni's from
// deploy/.
const (
	osmNamespace     = "osm-system"
	osmWebhookConfig = "osm-webhook-osm"
	// osmRecord is where mesh-cni's webhook records osm-init's script.
	osmRecord            = "mesh-cni.io/osm-init-command"
	meshCNIWebhook       = "mesh-cni-webhook"
	meshCNIWebhookConfig = "osm-webhook-osm-mesh-cni"
	// meshCNIImage is the image deploy/ names, as cmd/mkimage tags it.
	meshCNIImage = "ghcr.io/mesh-cni/mesh-cni:dev"
	// withoutMeshCNILabel, on a namespace OSM monitors, keeps mesh-cni's
	// webhook out of it: the benchmark adds a selector term for it to
	// deploy/'s configuration, so that OSM's own osm-init can be measured
	// beside it on the same node.
	withoutMeshCNILabel = "bench.mesh-cni.io/without-mesh-cni"
)

// startOSMInjector runs OSM v1.2.4's injector (test/tools/build.sh's build)
// as a host process against the node, the way osm-injection.md shows: its
// CRDs, a placeholder pod it names its certificates after, an
// ExternalName Service the API server reaches it through, and a MeshConfig
// whose images are the benchmark's: the sidecar is meshapp, osm-init runs
// in osmInitImage, which has iptables-restore. When the phase ends OSM's
// webhook configuration (failurePolicy Fail, never removed by the
// injector) goes first, then the process.
func startOSMInjector(t *phase, node *cluster.Node) {
	bins, err := cluster.EnsureBinaries()
	must(t, "finding OSM's injector", err)
	node.Kubectl(t, "apply", "-f", filepath.Join(bins.OSMDir, "crds"))
	node.Apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: osm-injector, namespace: %[1]s}
spec:
  nodeSelector: {mesh-cni.io/never: "true"}
  containers: [{name: placeholder, image: %[2]s, imagePullPolicy: Never}]
---
apiVersion: v1
kind: Service
metadata: {name: osm-injector, namespace: %[1]s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: webhook, port: 9090}]
---
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: %[1]s}
spec:
  sidecar:
    enablePrivilegedInitContainer: false
    logLevel: error
    envoyImage: %[2]s
    initContainerImage: %[3]s
    localProxyMode: Localhost
  traffic:
    enablePermissiveTrafficPolicyMode: true
    enableEgress: true
  certificate:
    serviceCertValidityDuration: 24h
    certKeyBitSize: 2048
`, osmNamespace, meshappImage, osmInitImage))
	logPath := filepath.Join(t.TempDir(), "osm-injector.log")
	logFile, err := os.Create(logPath)
	must(t, "osm-injector's log", err)
	cmd := exec.Command(filepath.Join(bins.OSMDir, "osm-injector"), "--kubeconfig", node.AdminKubeconfig,
		"--mesh-name", "osm", "--osm-namespace", osmNamespace, "--webhook-config-name", osmWebhookConfig,
		"--ca-bundle-secret-name", "osm-ca-bundle", "--certificate-manager", "tresor", "--osm-version", "v1.2.4")
	cmd.Env = append(os.Environ(), "INJECTOR_POD_NAME=osm-injector", "OSM_DEFAULT_HEALTHCHECK_CONTAINER_IMAGE="+meshappImage)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	must(t, "starting osm-injector", cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		node.TryKubectl("delete", "mutatingwebhookconfiguration", osmWebhookConfig, "--ignore-not-found")
		cmd.Process.Kill()
		<-exited
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("osm-injector's log, last lines:\n%s", lastLines(string(data), 40))
		}
	})
	for start := time.Now(); ; time.Sleep(time.Second) {
		select {
		case err := <-exited:
			exited <- err
			data, _ := os.ReadFile(logPath)
			t.Fatalf("osm-injector exited before serving (%v); its ports 9090 and 9091 are fixed, is another one running?\n%s", err, lastLines(string(data), 40))
		default:
		}
		resp, err := http.Get("http://127.0.0.1:9091/healthz")
		if err == nil {
			resp.Body.Close()
			if _, cerr := node.TryKubectl("get", "mutatingwebhookconfiguration", osmWebhookConfig); resp.StatusCode == http.StatusOK && cerr == nil {
				t.Logf("osm-injector serving after %s", time.Since(start).Round(time.Millisecond))
				return
			}
		}
		if time.Since(start) > 90*time.Second {
			data, _ := os.ReadFile(logPath)
			t.Fatalf("osm-injector not serving after 90s (%v)\n%s", err, lastLines(string(data), 40))
		}
	}
}

// deployMeshCNIWebhook loads mesh-cni's image (cmd/mkimage from the
// benchmark's builds) and applies deploy/'s webhook as it is - its
// MutatingWebhookConfiguration, RBAC, Deployment, Service and PDB - with
// one selector term added: namespaces labelled withoutMeshCNILabel are
// left to OSM alone. It returns once the Deployment is rolled out, which
// its readiness probe says only after the server wrote its CA into the
// configuration.
func deployMeshCNIWebhook(t *phase, b *binaries, node *cluster.Node) {
	tar := filepath.Join(t.TempDir(), "mesh-cni-image.tar")
	mk := exec.Command("go", "run", "./cmd/mkimage", "-o", tar, "-tag", meshCNIImage, "-plugin", b.meshCNI, "-installer", b.installer)
	mk.Dir = b.root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("go run ./cmd/mkimage: %v\n%s", err, out)
	}
	node.ImportImage(t, tar)
	for _, f := range []string{"webhook-configuration.yaml", "webhook-rbac.yaml", "webhook.yaml"} {
		data, err := os.ReadFile(filepath.Join(b.root, "deploy", f))
		must(t, "reading deploy/"+f, err)
		node.Apply(t, string(data))
	}
	node.Kubectl(t, "patch", "mutatingwebhookconfiguration", meshCNIWebhookConfig, "--type=json", "-p",
		fmt.Sprintf(`[{"op":"test","path":"/webhooks/0/name","value":"mesh-cni-osm-init.mesh-cni.io"},`+
			`{"op":"add","path":"/webhooks/0/namespaceSelector/matchExpressions","value":[{"key":%q,"operator":"DoesNotExist"}]}]`, withoutMeshCNILabel))
	start := time.Now()
	if out, err := node.TryKubectl("rollout", "status", "-n", "mesh-cni", "deployment/"+meshCNIWebhook, "--timeout=180s"); err != nil {
		desc, _ := node.TryKubectl("describe", "pods", "-n", "mesh-cni", "-l", "app="+meshCNIWebhook)
		logs, _ := node.TryKubectl("logs", "-n", "mesh-cni", "deployment/"+meshCNIWebhook, "--tail=40")
		t.Fatalf("mesh-cni's webhook did not roll out: %v\n%s\n%s\n--- logs:\n%s", err, out, desc, logs)
	}
	t.Logf("mesh-cni's webhook rolled out after %s", time.Since(start).Round(time.Millisecond))
}

// osmNamespaceYAML is a namespace OSM monitors and injects, left to OSM
// alone (mesh-cni's webhook not called) when withoutMeshCNI.
func osmNamespaceYAML(name string, withoutMeshCNI bool) string {
	extra := ""
	if withoutMeshCNI {
		extra = fmt.Sprintf("\n    %s: \"true\"", withoutMeshCNILabel)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    openservicemesh.io/monitored-by: osm%s
  annotations:
    openservicemesh.io/sidecar-injection: enabled
`, name, extra)
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
