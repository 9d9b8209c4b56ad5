package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/images"
	"github.com/mesh-cni/mesh-cni/test/osmhost"
)

// withoutMeshCNILabel, on a namespace OSM monitors, keeps mesh-cni's
// webhook out of it: the benchmark adds a selector term for it to deploy/'s
// configuration, so that OSM's own osm-init can be measured beside it on
// the same node.
const withoutMeshCNILabel = "bench.mesh-cni.io/without-mesh-cni"

// startOSMInjector runs OSM v1.2.4's injector as a host process against
// the node (test/osmhost, as the e2e suite and `make demo` do), its
// sidecar meshapp and osm-init run in osmInitImage, which has
// iptables-restore. It is stopped, its webhook configuration removed
// first, when the phase ends.
func startOSMInjector(t *phase, node *cluster.Node) {
	bins, err := cluster.EnsureBinaries()
	must(t, "finding OSM's injector", err)
	start := time.Now()
	inj, err := osmhost.Start(node.KubectlStdin, osmhost.Options{Kubeconfig: node.AdminKubeconfig, OSMDir: bins.OSMDir,
		AppImage: images.App, InitImage: osmInitImage})
	must(t, "starting OSM's injector", err)
	t.Logf("osm-injector serving after %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := inj.Stop(); err != nil {
			t.Errorf("stopping osm-injector: %v", err)
		}
		if t.Failed() {
			t.Logf("osm-injector's log, last lines:\n%s", inj.LogTail(40))
		}
	})
}

// deployMeshCNIWebhook loads mesh-cni's image (cmd/mkimage from the
// benchmark's builds) and applies deploy/'s webhook as it is - its
// MutatingWebhookConfiguration, RBAC, Deployment, Service and PDB - with
// one selector term added: namespaces labelled withoutMeshCNILabel are
// left to OSM alone. It returns once the webhook is rolled out.
func deployMeshCNIWebhook(t *phase, b *binaries, node *cluster.Node) {
	tar, err := images.BuildMeshCNI(b.root, t.TempDir(), b.meshCNI, b.installer)
	must(t, "mesh-cni's image", err)
	node.ImportImage(t, tar)
	for _, f := range []string{"webhook-configuration.yaml", "webhook-rbac.yaml", "webhook.yaml"} {
		data, err := os.ReadFile(filepath.Join(b.root, "deploy", f))
		must(t, "reading deploy/"+f, err)
		node.Apply(t, string(data))
	}
	node.Kubectl(t, "patch", "mutatingwebhookconfiguration", osmhost.MeshCNIWebhookConfig, "--type=json", "-p",
		fmt.Sprintf(`[{"op":"test","path":"/webhooks/0/name","value":"mesh-cni-osm-init.mesh-cni.io"},`+
			`{"op":"add","path":"/webhooks/0/namespaceSelector/matchExpressions","value":[{"key":%q,"operator":"DoesNotExist"}]}]`, withoutMeshCNILabel))
	start := time.Now()
	must(t, "deploying mesh-cni's webhook", osmhost.WaitMeshCNIWebhook(node.KubectlStdin, 180*time.Second))
	t.Logf("mesh-cni's webhook rolled out after %s", time.Since(start).Round(time.Millisecond))
}

// osmNamespaceYAML is a namespace OSM monitors and injects, left to OSM
// alone (mesh-cni's webhook not called) when withoutMeshCNI.
func osmNamespaceYAML(name string, withoutMeshCNI bool) string {
	if withoutMeshCNI {
		return osmhost.MeshNamespace(name, withoutMeshCNILabel+`: "true"`)
	}
	return osmhost.MeshNamespace(name)
}
