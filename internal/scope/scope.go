// Package scope decides whether mesh-cni redirects a pod's traffic. The
// plugin asks at ADD; the node agent's repair asks the same question of
// the pods of its node, so that it never acts on a pod the plugin would
// leave alone (its validation cannot pass: deleting it would only make it
// again without rules).
package scope

import (
	"slices"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// Pod annotations and names OSM uses to mark a pod's mesh membership.
const (
	AnnotationSidecarInjection = "openservicemesh.io/sidecar-injection"
	// OSMInitContainer is OSM's init container that installs the rules
	// itself; doing it twice would fail the pod (osm#4307).
	OSMInitContainer = "osm-init"
	// LabelProxyUUID is the label OSM's and osm-edge's injectors put on
	// every pod they inject, naming its proxy.
	LabelProxyUUID = "osm-proxy-uuid"
)

// Namespace returns why a pod of namespace is out of scope by its
// namespace alone, or "".
func Namespace(excluded []string, namespace string) string {
	if slices.Contains(excluded, namespace) {
		return "namespace " + namespace + " is excluded (excludeNamespaces)"
	}
	return ""
}

// Pod returns why the pod is out of scope by the pod object, or "" when
// mesh-cni must install its rules; sidecars are the proxy containers'
// names (sidecarContainerNames).
func Pod(sidecars []string, pod *object.Pod) string {
	if pod.Spec.HostNetwork {
		// The rules would land in the node's namespace (osm#4359).
		return "pod uses the host network"
	}
	if v, ok := pod.Metadata.Annotations[AnnotationSidecarInjection]; ok && injectionOff(v) {
		return "annotation " + AnnotationSidecarInjection + " is " + v
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == OSMInitContainer {
			return "pod has the " + OSMInitContainer + " init container, which installs the rules itself"
		}
	}
	// A container named envoy is not enough: an ingress or gateway runs an
	// Envoy of its own (OSM's own Contour ingress in osm-system does), and
	// redirecting its traffic to ports nothing listens on would cut it off.
	// Only the injector's label says the proxy is a mesh sidecar.
	if _, ok := pod.Metadata.Labels[LabelProxyUUID]; !ok {
		return "pod has no " + LabelProxyUUID + " label: OSM's injector did not inject it"
	}
	for _, c := range pod.Spec.Containers {
		if slices.Contains(sidecars, c.Name) {
			return ""
		}
	}
	return "pod has no sidecar container (sidecarContainerNames)"
}

// injectionOff says whether a sidecar-injection annotation value turns
// injection off, read as OSM's injector reads it: disabled, no or false,
// in any case.
func injectionOff(v string) bool {
	switch strings.ToLower(v) {
	case "disabled", "no", "false":
		return true
	}
	return false
}
