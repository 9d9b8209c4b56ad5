package cni

import (
	"fmt"
	"net/netip"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// AnnotationOSMInitCommand is where mesh-cni's admission webhook records,
// on a pod whose osm-init container it took out, the exact script that
// container would have run. It stays on the pod for its whole life, where
// `kubectl describe pod` shows it.
const AnnotationOSMInitCommand = "mesh-cni.io/osm-init-command"

// recordedPlan is the plan of a pod that carries a recorded osm-init
// command: that command's rules, parsed with OSM's own grammar (anything
// else fails the pod, naming the token), whatever generation of OSM wrote
// it, with $POD_IP the pod's address. ok is false for a pod without one.
// The record wins over the mesh settings and a configured profile: it is
// what osm-init would have installed. A pod's author gains nothing by
// writing one: the grammar admits only what OSM generates, which the
// exclusion annotations already give.
func recordedPlan(pod *object.Pod, podIPs []netip.Addr) (pl plan, ok bool, err error) {
	script, ok := pod.Metadata.Annotations[AnnotationOSMInitCommand]
	if !ok {
		return plan{}, false, nil
	}
	ref := pod.Metadata.Namespace + "/" + pod.Metadata.Name
	cfg, err := rules.ParseOSMInit(script)
	if err != nil {
		return plan{}, true, fmt.Errorf("annotation %s on pod %s: %w", AnnotationOSMInitCommand, ref, err)
	}
	cfg.PodIPs = podIPs
	sets, err := rules.BuildSets(cfg)
	if err != nil {
		return plan{}, true, fmt.Errorf("pod %s, its recorded osm-init command: %w", ref, err)
	}
	return plan{sets: sets, source: "the osm-init command recorded on the pod (annotation " + AnnotationOSMInitCommand + ")",
		choice: meshsettings.ProfileChoice{Profile: cfg.Profile, Reason: "the recorded command's generation"}}, true, nil
}
