package cluster

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestControlPlane(t *testing.T) {
	start := time.Now()
	cp := StartControlPlane(t)
	t.Logf("StartControlPlane took %.1fs", time.Since(start).Seconds())

	cp.Kubectl(t, "create", "namespace", "demo")
	cp.Apply(t, `apiVersion: v1
kind: Pod
metadata: {name: app, namespace: demo, annotations: {openservicemesh.io/sidecar-injection: enabled}}
spec:
  containers:
  - {name: app, image: mesh-cni.local/app:1}
  - {name: envoy, image: mesh-cni.local/app:1}
`)
	if phase := cp.Kubectl(t, "get", "pod", "app", "-n", "demo", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Errorf("pod phase = %q, want Pending (there is no node)", phase)
	}

	crdStart := time.Now()
	cp.InstallMeshConfigCRD(t)
	t.Logf("InstallMeshConfigCRD took %.1fs", time.Since(crdStart).Seconds())
	cp.Kubectl(t, "create", "namespace", "osm-system")
	cp.Apply(t, `apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  traffic: {enablePermissiveTrafficPolicyMode: true, outboundPortExclusionList: [6379]}
`)
	// Served under the older version too, as mesh-cni's fallback reads it.
	got := cp.Kubectl(t, "get", "meshconfigs.v1alpha1.config.openservicemesh.io", "osm-mesh-config", "-n", "osm-system",
		"-o", "jsonpath={.spec.traffic.outboundPortExclusionList[0]}")
	if got != "6379" {
		t.Errorf("MeshConfig via v1alpha1: outboundPortExclusionList[0] = %q, want 6379", got)
	}

	saKC := cp.ServiceAccountKubeconfig(t, "mesh-cni-system", "mesh-cni")
	if _, err := os.Stat(saKC); err != nil {
		t.Fatal(err)
	}
	// The token authenticates, but the account has no rights yet.
	if out, err := cp.TryKubectl("--kubeconfig="+saKC, "get", "pods", "-n", "demo"); err == nil ||
		!strings.Contains(err.Error(), `"system:serviceaccount:mesh-cni-system:mesh-cni" cannot list`) {
		t.Errorf("kubectl as the service account: out %q err %v, want forbidden for that account", out, err)
	}

	stopStart := time.Now()
	cp.Stop(t)
	if _, err := cp.TryKubectl("get", "namespace", "demo"); err == nil {
		t.Fatal("kubectl succeeded while the apiserver was stopped")
	}
	cp.Start(t)
	t.Logf("Stop and Start took %.1fs", time.Since(stopStart).Seconds())
	if got := cp.Kubectl(t, "get", "pod", "app", "-n", "demo", "-o", "name"); strings.TrimSpace(got) != "pod/app" {
		t.Errorf("after restart: got %q, want pod/app", got)
	}
}
