package webhook

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// ValidatorBinary is where mesh-cni's image holds the plugin's binary,
// whose `validate` command the validation container runs.
const ValidatorBinary = "/mesh-cni"

// Validator adds the validation init container (validate.ContainerName)
// first to every pod the webhook gives a record, so that a pod whose
// sandbox got no rules (mesh-cni not in the node's CNI chain then) never
// runs its app: its validator exits with validate.NotRedirectedExitCode
// and the node agent repairs the pod.
type Validator struct {
	// Image is the image holding ValidatorBinary: mesh-cni's own, which
	// every node has for the installer.
	Image string
}

// container is the validation container for a pod with cfg's rules. It
// passes Pod Security "restricted" whatever the pod's own settings: its
// uid is the probe's, as the rules match it.
func (v *Validator) container(cfg rules.Config, probe validate.Probe) corev1.Container {
	uid := int64(probe.UID)
	return corev1.Container{
		Name:            validate.ContainerName,
		Image:           v.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{ValidatorBinary, "validate", "--profile", string(cfg.Profile)},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			Privileged:               ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			RunAsNonRoot:             ptr(true),
			RunAsUser:                &uid,
			RunAsGroup:               &uid,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// ops returns the patch that puts the validation container first in pod,
// for a pod that will carry script as its record; it comes after any
// removal of osm-init, which leaves the list in place. Nothing when
// the pod has the container already (a re-invocation), shares the node's
// network (the plugin steps aside), or has exclusions the probe cannot
// pass: an error then says which, for the log, and the pod goes without.
func (v *Validator) ops(pod *corev1.Pod, script string) ([]kube.PatchOp, error) {
	if v == nil || pod.Spec.HostNetwork {
		return nil, nil
	}
	if slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == validate.ContainerName }) {
		return nil, nil
	}
	cfg, err := rules.ParseOSMInit(script)
	if err != nil {
		return nil, fmt.Errorf("no validation container: the record: %w", err)
	}
	probe, err := validate.ProbeFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("no validation container: %w", err)
	}
	c := v.container(cfg, probe)
	if pod.Spec.InitContainers == nil {
		return []kube.PatchOp{{Op: "add", Path: "/spec/initContainers", Value: []corev1.Container{c}}}, nil
	}
	return []kube.PatchOp{{Op: "add", Path: "/spec/initContainers/0", Value: c}}, nil
}

func ptr[T any](v T) *T { return &v }
