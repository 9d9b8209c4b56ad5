package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/install"
)

// TestToleratesNotReadyTaint: the installer, which removes the taint, and
// the webhook, whose pods need no rules, run on a node that still has it;
// the webhook tolerates nothing else it did not before.
func TestToleratesNotReadyTaint(t *testing.T) {
	objs := render(t)
	taint := &corev1.Taint{Key: install.NotReadyTaint, Value: "true", Effect: corev1.TaintEffectNoSchedule}
	other := &corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	var ds appsv1.DaemonSet
	decode(t, objs, "DaemonSet", "mesh-cni", &ds)
	var d appsv1.Deployment
	decode(t, objs, "Deployment", "mesh-cni-webhook", &d)
	for name, tols := range map[string][]corev1.Toleration{"DaemonSet": ds.Spec.Template.Spec.Tolerations, "webhook": d.Spec.Template.Spec.Tolerations} {
		if !tolerates(tols, taint) {
			t.Errorf("the %s does not tolerate %s:NoSchedule: %+v", name, install.NotReadyTaint, tols)
		}
	}
	if tolerates(d.Spec.Template.Spec.Tolerations, other) {
		t.Errorf("the webhook tolerates any taint: %+v", d.Spec.Template.Spec.Tolerations)
	}
}

func tolerates(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(taint) {
			return true
		}
	}
	return false
}
