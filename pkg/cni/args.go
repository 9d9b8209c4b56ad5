package cni

import (
	"fmt"
	"strings"
)

// podRef names the pod an invocation is about; empty when the runtime is
// not Kubernetes.
type podRef struct {
	Namespace, Name, UID string
}

func (p podRef) String() string { return p.Namespace + "/" + p.Name }

// isKubernetes says whether the runtime named a pod.
func (p podRef) isKubernetes() bool { return p.Namespace != "" && p.Name != "" }

// parseArgs reads the pod from CNI_ARGS, the "Alphanumeric key-value pairs
// separated by semicolons" of SPEC.md section 2 "Parameters", in which
// kubelet's runtime (containerd, CRI-O) passes K8S_POD_NAMESPACE,
// K8S_POD_NAME and K8S_POD_UID. Unknown keys are ignored, as every runtime
// adds its own (IgnoreUnknown is implied). Malformed pairs are errors, as
// they were with libcni's types.LoadArgs, whose messages these are.
func parseArgs(s string) (podRef, error) {
	var pod podRef
	if s == "" {
		return pod, nil
	}
	for pair := range strings.SplitSeq(s, ";") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || strings.Contains(value, "=") {
			return podRef{}, fmt.Errorf("parsing CNI_ARGS: ARGS: invalid pair %q", pair)
		}
		switch key {
		case "K8S_POD_NAMESPACE":
			pod.Namespace = value
		case "K8S_POD_NAME":
			pod.Name = value
		case "K8S_POD_UID":
			pod.UID = value
		case "IgnoreUnknown":
			// A runtime's request to ignore keys the plugin does not know,
			// which mesh-cni always does; still a boolean, as in libcni.
			switch strings.ToLower(value) {
			case "1", "true", "0", "false":
			default:
				return podRef{}, fmt.Errorf("parsing CNI_ARGS: ARGS: error parsing value of pair %q: boolean unmarshal error: invalid input %s", pair, strings.ToLower(value))
			}
		}
	}
	return pod, nil
}
