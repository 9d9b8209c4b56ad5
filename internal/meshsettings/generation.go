package meshsettings

import (
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// originKind is where the mesh-wide settings were read from.
type originKind int

const (
	originDefaults originKind = iota
	originMeshConfig
	originConfigMap
)

// Origin is what the mesh-wide settings were read from, with the signs
// of the mesh's generation that object carries; Gather fills it.
type Origin struct {
	kind             originKind
	name, apiVersion string
	// Fields present in the MeshConfig: interceptionMode and
	// localDNSProxy.enable are osm-edge's, useHTTPSIngress OSM v0.9-v0.11's.
	interceptionMode, localDNSProxy, useHTTPSIngress bool
}

// PipySidecar is osm-edge's sidecar container: OSM's is envoy.
const PipySidecar = "sidecar"

// ProfileChoice is the rule generation a pod gets, and why, for the log
// line and the Event.
type ProfileChoice struct {
	Profile rules.Profile
	// Reason says what the cluster showed; for a configured profile, ""
	// unless the cluster shows another generation (Mismatch).
	Reason string
	// Mismatch is set when the configured profile is not the generation
	// the cluster shows.
	Mismatch bool
}

// ChooseProfile is the configured profile, or with profile auto (an empty
// configured one) the generation the cluster shows.
func ChooseProfile(configured rules.Profile, mesh Settings, pod *object.Pod) ProfileChoice {
	shown, why := clusterGeneration(mesh.Origin, pod)
	if configured == "" {
		return ProfileChoice{Profile: shown, Reason: "auto: " + why}
	}
	if configured != shown {
		return ProfileChoice{Profile: configured, Reason: "the cluster shows " + why + ", which is profile " + string(shown), Mismatch: true}
	}
	return ProfileChoice{Profile: configured}
}

// clusterGeneration reads the mesh's generation from the object its
// settings came from and the pod's shape:
//   - MeshConfig config.openservicemesh.io/v1alpha2: OSM v1.1+ or osm-edge;
//   - MeshConfig v1alpha1 (OSM v0.9-v1.0.x; both used it): v0.9-v0.11
//     where it has spec.traffic.useHTTPSIngress, which v1.0 dropped from
//     the CRD (so the API server prunes it), else v1.0.x, the newer;
//   - the osm-config ConfigMap: OSM v0.8 or older;
//   - nothing at all: osm-edge's Pipy sidecar means v1 (osm-edge never
//     had another generation), else the guide's v0 chains.
func clusterGeneration(o Origin, pod *object.Pod) (rules.Profile, string) {
	switch o.kind {
	case originMeshConfig:
		switch {
		case o.interceptionMode || o.localDNSProxy:
			return rules.ProfileOSMv1, "osm-edge (MeshConfig " + o.name + " has osm-edge's fields)"
		case strings.HasSuffix(o.apiVersion, "/v1alpha2"):
			return rules.ProfileOSMv1, "OSM v1.1+ or osm-edge (MeshConfig " + o.name + " is " + o.apiVersion + ")"
		case o.useHTTPSIngress:
			return rules.ProfileOSMv0, "OSM v0.9-v0.11 (MeshConfig " + o.name + " is " + o.apiVersion + " with spec.traffic.useHTTPSIngress)"
		}
		return rules.ProfileOSMv10, "OSM v1.0.x (MeshConfig " + o.name + " is " + o.apiVersion + " without v0.x's spec.traffic.useHTTPSIngress)"
	case originConfigMap:
		return rules.ProfileOSMv0, "OSM v0.8 or older (ConfigMap " + o.name + ")"
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == PipySidecar {
			return rules.ProfileOSMv1, "osm-edge (no mesh settings; the pod's sidecar container is " + PipySidecar + ")"
		}
	}
	return rules.ProfileOSMv0, "no mesh settings and an Envoy sidecar: the troubleshooting guide's chains"
}
