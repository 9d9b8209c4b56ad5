package webhook

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
)

// EdgeRecorder records on osm-edge's pods in interceptionMode none, which
// its injector gives no osm-init, the rules the plugin would compute for
// them at ADD, so that `kubectl describe pod` shows them for the pod's
// whole life as it does for a pod whose osm-init was taken out. Its
// Record method is a RecordWithoutInit.
type EdgeRecorder struct {
	// API reads the MeshConfig and the osm-config ConfigMap.
	API meshsettings.Reader
	// MeshNamespace and MeshConfigName are where, as the plugin's
	// settings of the same names say.
	MeshNamespace, MeshConfigName string
	// Timeout bounds the reads of one admission, well within the API
	// server's timeoutSeconds for the webhook.
	Timeout time.Duration
}

// Record reads the mesh settings and, in interceptionMode none only,
// returns the record: meshsettings.Record of the pod's Decision with
// profile auto, the settings merged with the pod's annotations as at ADD.
// In ebpf mode osm-edge's interceptor redirects and the plugin installs
// nothing; in iptables mode (and for OSM, which has no mode) the pod's
// osm-init is what gets recorded, so a pod without it here has its record
// from this webhook's earlier pass. Any failure is an error: the pod is
// admitted unchanged and the plugin computes its rules at ADD, as for
// every pod without a record.
func (r *EdgeRecorder) Record(pod *corev1.Pod) (string, bool, error) {
	if pod.Spec.HostNetwork {
		// The plugin steps aside for such a pod: a record would say
		// rules were installed that never are.
		return "", false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	mesh, err := meshsettings.Gather(ctx, r.API, r.MeshNamespace, r.MeshConfigName)
	if err != nil {
		return "", false, fmt.Errorf("reading the mesh settings: %w", err)
	}
	if mesh.InterceptionMode != meshsettings.InterceptionNone {
		return "", false, nil
	}
	d, err := meshsettings.Decide(mesh, "", objectPod(pod), nil)
	if err != nil {
		return "", false, err
	}
	script, err := meshsettings.Record(d.Config)
	if err != nil {
		return "", false, fmt.Errorf("pod %s/%s with %s: %w", pod.Namespace, pod.Name, mesh.Source, err)
	}
	return script, true, nil
}

// objectPod is the part of pod the mesh settings read: its name for
// messages (the generateName at CREATE), labels, annotations and
// containers.
func objectPod(pod *corev1.Pod) *object.Pod {
	name := pod.Name
	if name == "" && pod.GenerateName != "" {
		name = pod.GenerateName + "*"
	}
	p := &object.Pod{Metadata: object.ObjectMeta{Name: name, Namespace: pod.Namespace, UID: string(pod.UID), Labels: pod.Labels, Annotations: pod.Annotations}}
	p.Spec.HostNetwork = pod.Spec.HostNetwork
	for _, c := range pod.Spec.InitContainers {
		p.Spec.InitContainers = append(p.Spec.InitContainers, object.Container{Name: c.Name})
	}
	for _, c := range pod.Spec.Containers {
		p.Spec.Containers = append(p.Spec.Containers, object.Container{Name: c.Name})
	}
	return p
}
