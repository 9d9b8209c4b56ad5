package osmhost

import (
	"fmt"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// mesh-cni's webhook as deploy/ names it: it sits beside OSM's injector in
// every OSM scenario, and its configuration is named after OSM's.
const (
	// MeshCNIWebhook is its Deployment and Service in namespace mesh-cni,
	// and its pods' app label.
	MeshCNIWebhook = "mesh-cni-webhook"
	// MeshCNIWebhookConfig is its MutatingWebhookConfiguration.
	MeshCNIWebhookConfig = "osm-webhook-osm-mesh-cni"
)

// WaitMeshCNIWebhook waits until mesh-cni's webhook Deployment is rolled
// out, which its readiness probe says only once the server has written its
// CA into the configuration. The error carries the pods' description and
// the server's log.
func WaitMeshCNIWebhook(kubectl cluster.KubectlFunc, timeout time.Duration) error {
	out, err := kubectl(nil, "rollout", "status", "-n", "mesh-cni", "deployment/"+MeshCNIWebhook, "--timeout="+timeout.String())
	if err == nil {
		return nil
	}
	desc, _ := kubectl(nil, "describe", "pods", "-n", "mesh-cni", "-l", "app="+MeshCNIWebhook)
	logs, _ := kubectl(nil, "logs", "-n", "mesh-cni", "deployment/"+MeshCNIWebhook, "--tail=40")
	return fmt.Errorf("mesh-cni's webhook did not roll out: %w\n%s\n%s\n--- logs:\n%s", err, out, desc, logs)
}
