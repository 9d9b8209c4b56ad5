package cni

import (
	"slices"

	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
)

// Pod annotations and names OSM uses to mark a pod's mesh membership.
const (
	AnnotationSidecarInjection = "openservicemesh.io/sidecar-injection"
	// OSMInitContainer is OSM's init container that installs the rules
	// itself; doing it twice would fail the pod (osm#4307).
	OSMInitContainer = "osm-init"
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
	if pod.Metadata.Annotations[AnnotationSidecarInjection] == "disabled" {
		return "annotation " + AnnotationSidecarInjection + " is disabled"
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == OSMInitContainer {
			return "pod has the " + OSMInitContainer + " init container, which installs the rules itself"
		}
	}
	for _, c := range pod.Spec.Containers {
		if slices.Contains(conf.SidecarContainerNames, c.Name) {
			return ""
		}
	}
	return "pod has no sidecar container (sidecarContainerNames)"
}
