package meshsettings

import "fmt"

// osm-edge's spec.traffic.interceptionMode values.
const (
	InterceptionIptables = "iptables"
	InterceptionEBPF     = "ebpf"
	InterceptionNone     = "none"
)

// InterceptionSkip reads osm-edge's interception mode: the reason mesh-cni
// leaves the pod alone, "" when it installs the rules, or an error for a
// value it does not know. OSM's MeshConfig has no such field.
//   - none (osm-edge v1.3.3+), or no field: nothing else intercepts; the
//     gap mesh-cni fills.
//   - iptables: osm-edge's injector adds osm-init, and scope already
//     stepped aside for a pod that has it; one without it (osm-init taken
//     out) gets the rules, so it is never left unprotected.
//   - ebpf: osm-edge's own interceptor redirects; rules on top would send
//     the traffic round twice.
func InterceptionSkip(mesh Settings) (string, error) {
	switch mesh.InterceptionMode {
	case "", InterceptionNone, InterceptionIptables:
		return "", nil
	case InterceptionEBPF:
		return fmt.Sprintf("%s spec.traffic.interceptionMode is %s: osm-edge's eBPF interceptor redirects this pod's traffic", mesh.Source, InterceptionEBPF), nil
	}
	return "", fmt.Errorf("invalid interception mode %q in %s field spec.traffic.interceptionMode (want %s, %s or %s)",
		mesh.InterceptionMode, mesh.Source, InterceptionNone, InterceptionIptables, InterceptionEBPF)
}
