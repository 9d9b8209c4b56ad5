package webhook

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
)

const validatorImage = "ghcr.io/mesh-cni/mesh-cni:dev"

// admitted is pod as m's patch makes it.
func admitted(t *testing.T, m *Mutator, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	resp := m.Admit(createRequest(t, pod))
	if len(resp.Patch) == 0 {
		return pod
	}
	return applyPatch(t, pod, resp.Patch)
}

func validatorMutator(t *testing.T) *Mutator {
	return &Mutator{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Validator: &Validator{Image: validatorImage}, WithoutInit: edgeRecorder(t, edgeNoneMode).Record}
}

func TestValidatorFirst(t *testing.T) {
	m := validatorMutator(t)
	for name, pod := range map[string]*corev1.Pod{
		"osm-init alone":         webhooktest.OSMPod("web", webhooktest.DefaultScript),
		"after app inits":        webhooktest.OSMPod("db", webhooktest.DefaultScript, "migrate", "wait-for-db"),
		"osm-edge none, no init": edgePod(nil),
	} {
		t.Run(name, func(t *testing.T) {
			after := admitted(t, m, pod)
			inits := after.Spec.InitContainers
			if len(inits) == 0 || inits[0].Name != validate.ContainerName {
				t.Fatalf("init containers %v, want %s first", initNames(inits), validate.ContainerName)
			}
			if slices.ContainsFunc(inits, func(c corev1.Container) bool { return c.Name == InitContainerName }) {
				t.Errorf("osm-init is still there: %v", initNames(inits))
			}
			cfg, err := rules.ParseOSMInit(after.Annotations[CommandAnnotation])
			if err != nil {
				t.Fatal(err)
			}
			probe, _ := validate.ProbeFor(cfg)
			v := inits[0]
			if v.Image != validatorImage || strings.Join(v.Command, " ") != "/mesh-cni validate --profile "+string(cfg.Profile) || *v.SecurityContext.RunAsUser != int64(probe.UID) {
				t.Errorf("validator %s %q as uid %d, want %s, profile %s, uid %d", v.Image, v.Command, *v.SecurityContext.RunAsUser, validatorImage, cfg.Profile, probe.UID)
			}
			// A second pass (reinvocation) adds nothing more.
			if again := admitted(t, m, after); len(again.Spec.InitContainers) != len(inits) {
				t.Errorf("a second pass: init containers %v", initNames(again.Spec.InitContainers))
			}
		})
	}
}

// The validation container passes Pod Security "restricted", checked by
// the policy code kube-apiserver's admission runs; the same container
// without its seccomp profile does not, so the check is not vacuous.
func TestValidatorRestricted(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	after := admitted(t, validatorMutator(t), webhooktest.OSMPod("web", webhooktest.DefaultScript))
	v := after.Spec.InitContainers[0]
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	check := func(c corev1.Container) policy.AggregateCheckResult {
		spec := corev1.PodSpec{InitContainers: []corev1.Container{c}}
		return policy.AggregateCheckResults(eval.EvaluatePod(restricted, &after.ObjectMeta, &spec))
	}
	if r := check(v); !r.Allowed {
		t.Errorf("the validation container fails restricted: %v %v", r.ForbiddenReasons, r.ForbiddenDetails)
	}
	v.SecurityContext = v.SecurityContext.DeepCopy()
	v.SecurityContext.SeccompProfile = nil
	if r := check(v); r.Allowed {
		t.Error("without seccomp the container still passes restricted: the check proves nothing")
	}
}

func TestValidatorLeftOut(t *testing.T) {
	m := validatorMutator(t)
	host := webhooktest.OSMPod("host", webhooktest.DefaultScript)
	host.Spec.HostNetwork = true
	if after := admitted(t, m, host); slices.ContainsFunc(after.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == validate.ContainerName }) {
		t.Error("a host-network pod, for which the plugin installs nothing, got the validator")
	}
	m.Validator = nil
	if after := admitted(t, m, webhooktest.OSMPod("off", webhooktest.DefaultScript)); len(after.Spec.InitContainers) != 0 {
		t.Errorf("validation off: init containers %v", initNames(after.Spec.InitContainers))
	}
}

func initNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
