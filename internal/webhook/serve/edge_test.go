package serve

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// edgeMeshConfig is osm-edge's MeshConfig in this interception mode, with
// mesh-wide exclusions and PodIP mode.
func edgeMeshConfig(mode string) string {
	return fmt.Sprintf(`apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  traffic:
    interceptionMode: %s
    enableEgress: true
    outboundPortExclusionList: [6379]
    outboundIPRangeExclusionList: ["10.0.0.0/8"]
    networkInterfaceExclusionList: [net1]
  sidecar:
    localProxyMode: PodIP
`, mode)
}

// osmEdgeModes: an osm-edge pod (no osm-init) in interceptionMode none is
// stored with the record of the MeshConfig's exclusions merged with its
// annotation's, in a namespace enforcing baseline; in ebpf mode, with none.
func osmEdgeModes(t *testing.T, cp *cluster.ControlPlane, admin *kube.Client) {
	t.Cleanup(func() { cp.Kubectl(t, "delete", "meshconfig", "-n", "osm-system", "osm-mesh-config") })
	edgePod := func(name string) *corev1.Pod {
		p := webhooktest.OSMEdgePod(name)
		p.Annotations = map[string]string{
			"openservicemesh.io/outbound-port-exclusion-list":     "8080",
			"openservicemesh.io/outbound-ip-range-exclusion-list": "192.168.0.0/16",
		}
		return p
	}

	cp.Apply(t, edgeMeshConfig("none"))
	stored, err := createPod(admin, "apps", edgePod("edge-none"), false)
	if err != nil {
		t.Fatal(err)
	}
	record := stored.Annotations[webhook.CommandAnnotation]
	cfg, err := rules.ParseOSMInit(record)
	if err != nil {
		t.Fatalf("the stored record %q: %v", record, err)
	}
	// Ports: the mesh's, then the pod's; IP ranges: the pod's, then the
	// mesh's (as OSM's injector merged them); $POD_IP left to the plugin.
	got := fmt.Sprintf("%s %v %v %v %s", cfg.Profile, cfg.OutboundPortExclusions, cfg.OutboundIPRangeExclusions, cfg.NetworkInterfaceExclusions, cfg.LocalProxyMode)
	if want := "osm-v1 [6379 8080] [192.168.0.0/16 10.0.0.0/8] [net1] PodIP"; got != want || !strings.Contains(record, "--to-destination "+rules.PodIPPlaceholder+"\n") {
		t.Errorf("the record is %s, want %s with $POD_IP:\n%s", got, want, record)
	}
	if !slices.Equal(names(stored.Spec.InitContainers), []string{validate.ContainerName}) || !slices.Equal(names(stored.Spec.Containers), []string{"app", "sidecar"}) {
		t.Errorf("the pod's containers changed: init %v, containers %v", names(stored.Spec.InitContainers), names(stored.Spec.Containers))
	}

	cp.Apply(t, edgeMeshConfig("ebpf"))
	stored, err = createPod(admin, "apps", edgePod("edge-ebpf"), false)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := stored.Annotations[webhook.CommandAnnotation]; ok {
		t.Errorf("in ebpf mode the pod was stored with the record %q", r)
	}
}
