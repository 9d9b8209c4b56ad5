package serve

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
)

// testValidatorImage is the replicas' --validator-image.
const testValidatorImage = "registry.test/mesh-cni:validate"

// validatorRestricted takes the validation container the webhook gave an
// injected pod and creates, in the namespace enforcing Pod Security
// "restricted", a pod of it and an app as restricted as it: the API
// server's own Pod Security admission admits it. The same pod with the
// container's capabilities kept is refused, so the namespace enforces.
func validatorRestricted(t *testing.T, admin *kube.Client) {
	stored, err := createPod(admin, "apps", webhooktest.OSMPod("for-strict", webhooktest.DefaultScript), true)
	if err != nil {
		t.Fatal(err)
	}
	v := stored.Spec.InitContainers[0]
	if v.Name != validate.ContainerName || v.Image != testValidatorImage {
		t.Fatalf("first init container %s (%s), want %s (%s)", v.Name, v.Image, validate.ContainerName, testValidatorImage)
	}
	app := v.DeepCopy()
	app.Name, app.Command = "app", []string{"/app"}
	pod := webhooktest.PlainPod("strict")
	pod.Spec.InitContainers, pod.Spec.Containers = []corev1.Container{v}, []corev1.Container{*app}
	if _, err := createPod(admin, "strict", pod, true); err != nil {
		t.Errorf("the validation container in a restricted namespace: %v", err)
	}
	pod.Spec.InitContainers[0].SecurityContext = v.SecurityContext.DeepCopy()
	pod.Spec.InitContainers[0].SecurityContext.Capabilities = nil
	if _, err := createPod(admin, "strict", pod, true); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("with its capabilities kept: %v, want refused by restricted", err)
	}
}
