package cni

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
)

// podRef names the pod an invocation is about; empty when the runtime is
// not Kubernetes.
type podRef struct {
	Namespace, Name, UID string
}

func (p podRef) String() string { return p.Namespace + "/" + p.Name }

// isKubernetes says whether the runtime named a pod.
func (p podRef) isKubernetes() bool { return p.Namespace != "" && p.Name != "" }

// k8sArgs are the CNI_ARGS kubelet's runtime (containerd, CRI-O) passes.
type k8sArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_NAME               types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_UID                types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString //nolint:revive // CNI_ARGS key
}

// parseArgs reads the pod from CNI_ARGS with libcni's types.LoadArgs.
// Unknown keys are ignored unless the runtime passes IgnoreUnknown=0:
// every runtime adds keys of its own, and a pod must not fail for one
// mesh-cni has never heard of.
func parseArgs(s string) (podRef, error) {
	var a k8sArgs
	a.IgnoreUnknown = true
	if err := types.LoadArgs(s, &a); err != nil {
		return podRef{}, fmt.Errorf("parsing CNI_ARGS: %w", err)
	}
	return podRef{Namespace: string(a.K8S_POD_NAMESPACE), Name: string(a.K8S_POD_NAME), UID: string(a.K8S_POD_UID)}, nil
}
