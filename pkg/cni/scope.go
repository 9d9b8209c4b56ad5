package cni

import (
	"slices"
	"strings"

	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
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

// namespaceSkip decides, before any API call, whether the pod is out of
// scope; it returns the reason, or "" when the pod must be looked at.
func namespaceSkip(conf *NetConf, pod podRef) string {
	if !pod.isKubernetes() {
		return "no Kubernetes pod in CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME)"
	}
	if slices.Contains(conf.ExcludeNamespaces, pod.Namespace) {
		return "namespace " + pod.Namespace + " is excluded (excludeNamespaces)"
	}
	return ""
}

// podSkip decides from the pod object whether it is out of scope; it
// returns the reason, or "" when mesh-cni must install its rules.
func podSkip(conf *NetConf, pod *object.Pod) string {
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
		if slices.Contains(conf.SidecarContainerNames, c.Name) {
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
