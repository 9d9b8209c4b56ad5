package cni

import (
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/scope"
)

// namespaceSkip decides, before any API call, whether the pod is out of
// scope; it returns the reason, or "" when the pod must be looked at.
func namespaceSkip(conf *NetConf, pod podRef) string {
	if !pod.isKubernetes() {
		return "no Kubernetes pod in CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME)"
	}
	return scope.Namespace(conf.ExcludeNamespaces, pod.Namespace)
}

// podSkip decides from the pod object whether it is out of scope; it
// returns the reason, or "" when mesh-cni must install its rules.
func podSkip(conf *NetConf, pod *object.Pod) string {
	return scope.Pod(conf.SidecarContainerNames, pod)
}
