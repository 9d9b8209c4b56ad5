package meshsettings

import (
	"fmt"
	"net/netip"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Decision is what the mesh settings give one pod: the rules' Config and
// the profile chosen, or why mesh-cni leaves the pod to its mesh.
type Decision struct {
	// Config is the pod's rules' configuration; unset when Skip is given.
	Config rules.Config
	// Choice is the profile Config is of, and why.
	Choice ProfileChoice
	// Skip is why mesh-cni installs no rules (osm-edge's eBPF interceptor
	// redirects the pod's traffic); "" when it installs Config.
	Skip string
}

// Decide is the plugin's computation of a pod's rules from the mesh
// settings, which the webhook's record repeats: the interception mode
// first, then the profile (configured, or with "" the generation the
// cluster shows), then the settings merged with the pod's annotations.
// podIPs are the pod's addresses, nil when they are not known yet (the
// rules then hold rules.PodIPPlaceholder in PodIP mode).
func Decide(mesh Settings, configured rules.Profile, pod *object.Pod, podIPs []netip.Addr) (Decision, error) {
	skip, err := InterceptionSkip(mesh)
	if err != nil {
		return Decision{}, fmt.Errorf("pod %s/%s: %w", pod.Metadata.Namespace, pod.Metadata.Name, err)
	}
	if skip != "" {
		return Decision{Skip: skip}, nil
	}
	return Configure(mesh, configured, pod, podIPs)
}

// Configure is Decide once the interception mode has let the pod through:
// the profile, then the settings merged with the pod's annotations. The
// plugin calls it after its own check of the mode and of a recorded
// command, so that neither is asked twice.
func Configure(mesh Settings, configured rules.Profile, pod *object.Pod, podIPs []netip.Addr) (Decision, error) {
	choice := ChooseProfile(configured, mesh, pod)
	cfg, err := PodConfig(choice.Profile, mesh, pod, podIPs)
	if err != nil {
		return Decision{}, err
	}
	return Decision{Config: cfg, Choice: choice}, nil
}

// PodConfig merges the mesh-wide settings with the pod's annotations as
// OSM's injector did (ports: global then pod; IP ranges: pod then global;
// interfaces: global only) and validates the result for the profile.
func PodConfig(profile rules.Profile, mesh Settings, pod *object.Pod, podIPs []netip.Addr) (rules.Config, error) {
	ref := pod.Metadata.Namespace + "/" + pod.Metadata.Name
	var outPorts, inPorts []uint16
	var ipExcl, ipIncl []string
	for _, a := range []struct {
		key   string
		ports *[]uint16
		cidrs *[]string
	}{
		{AnnotationOutboundPortExclusions, &outPorts, nil},
		{AnnotationInboundPortExclusions, &inPorts, nil},
		{AnnotationOutboundIPRangeExclusions, nil, &ipExcl},
		{AnnotationOutboundIPRangeInclusions, nil, &ipIncl},
	} {
		var err error
		if a.ports != nil {
			*a.ports, err = rules.ParsePortList(pod.Metadata.Annotations[a.key])
		} else {
			*a.cidrs, err = rules.ParseCIDRList(pod.Metadata.Annotations[a.key])
		}
		if err != nil {
			return rules.Config{}, fmt.Errorf("%w in annotation %s on pod %s", err, a.key, ref)
		}
	}
	// The pod's own settings alone first, so that what the profile cannot
	// express is blamed on the annotation that asked for it, not on the
	// mesh-wide settings it is merged with.
	own := rules.DefaultConfig(profile)
	own.OutboundPortExclusions, own.InboundPortExclusions = outPorts, inPorts
	own.OutboundIPRangeExclusions, own.OutboundIPRangeInclusions = ipExcl, ipIncl
	if err := own.Validate(); err != nil {
		return rules.Config{}, fmt.Errorf("pod %s, in its annotations: %w", ref, err)
	}
	cfg := rules.DefaultConfig(profile)
	cfg.OutboundPortExclusions = rules.MergePorts(mesh.OutboundPorts, outPorts)
	cfg.InboundPortExclusions = rules.MergePorts(mesh.InboundPorts, inPorts)
	cfg.OutboundIPRangeExclusions = rules.MergeCIDRs(ipExcl, mesh.OutboundIPExclusions)
	cfg.OutboundIPRangeInclusions = rules.MergeCIDRs(ipIncl, mesh.OutboundIPInclusions)
	cfg.NetworkInterfaceExclusions = mesh.Interfaces
	if mesh.LocalProxyMode != "" {
		cfg.LocalProxyMode = mesh.LocalProxyMode
	}
	cfg.PodIPs = podIPs
	cfg.LocalDNSProxy = mesh.LocalDNSProxy
	if err := cfg.Validate(); err != nil {
		return rules.Config{}, fmt.Errorf("pod %s with %s: %w", ref, mesh.Source, err)
	}
	return cfg, nil
}
