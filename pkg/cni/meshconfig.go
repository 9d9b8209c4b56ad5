package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// The pod annotations OSM merged with the mesh-wide lists.
const (
	AnnotationOutboundPortExclusions    = "openservicemesh.io/outbound-port-exclusion-list"
	AnnotationInboundPortExclusions     = "openservicemesh.io/inbound-port-exclusion-list"
	AnnotationOutboundIPRangeExclusions = "openservicemesh.io/outbound-ip-range-exclusion-list"
	AnnotationOutboundIPRangeInclusions = "openservicemesh.io/outbound-ip-range-inclusion-list"
)

// OSMConfigMapName is the ConfigMap OSM <= v0.8 kept its settings in.
const OSMConfigMapName = "osm-config"

// The osm-config ConfigMap's keys, comma strings as in the seed.
const (
	keyOutboundIPRangeExclusions = "outbound_ip_range_exclusion_list"
	keyOutboundPortExclusions    = "outbound_port_exclusion_list"
	keyInboundPortExclusions     = "inbound_port_exclusion_list"
)

// meshSettings are the mesh-wide settings, validated, and where they came
// from.
type meshSettings struct {
	Source string
	// Origin is what the settings were read from, and its signs of the
	// mesh's generation (generation.go).
	Origin               meshOrigin
	InterceptionMode     string
	LocalDNSProxy        bool
	OutboundIPExclusions []string
	OutboundIPInclusions []string
	OutboundPorts        []uint16
	InboundPorts         []uint16
	Interfaces           []string
	LocalProxyMode       rules.LocalProxyMode
}

// meshReader is the part of the Kubernetes client that reads the mesh
// configuration; tests give a fake.
type meshReader interface {
	GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error)
	GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error)
}

// gatherMeshSettings reads the MeshConfig, else the osm-config ConfigMap,
// else takes OSM's defaults. Only "not found" falls through: any other
// failure is an error, because guessing would install the wrong rules.
func gatherMeshSettings(ctx context.Context, r meshReader, conf *NetConf) (meshSettings, error) {
	mc, err := r.GetMeshConfig(ctx, conf.MeshNamespace, conf.MeshConfigName)
	if err == nil {
		return fromMeshConfig(mc, conf.MeshNamespace+"/"+conf.MeshConfigName)
	}
	if !errors.Is(err, object.ErrNotFound) {
		return meshSettings{}, err
	}
	cm, err := r.GetConfigMap(ctx, conf.MeshNamespace, OSMConfigMapName)
	if err == nil {
		return fromConfigMap(cm, conf.MeshNamespace+"/"+OSMConfigMapName)
	}
	if !errors.Is(err, object.ErrNotFound) {
		return meshSettings{}, err
	}
	return meshSettings{Source: "defaults (no MeshConfig " + conf.MeshNamespace + "/" + conf.MeshConfigName + " nor ConfigMap " + conf.MeshNamespace + "/" + OSMConfigMapName + ")",
		Origin: meshOrigin{kind: originDefaults}, LocalProxyMode: rules.LocalProxyLocalhost}, nil
}

func fromMeshConfig(mc *object.MeshConfig, name string) (meshSettings, error) {
	t := mc.Spec.Traffic
	s := meshSettings{
		Source: "MeshConfig " + name + " (" + mc.APIVersion + ")",
		Origin: meshOrigin{kind: originMeshConfig, name: name, apiVersion: mc.APIVersion,
			interceptionMode: t.InterceptionMode != "", useHTTPSIngress: len(t.UseHTTPSIngress) > 0,
			localDNSProxy: mc.Spec.Sidecar.LocalDNSProxy.Enable},
		InterceptionMode: t.InterceptionMode,
		LocalDNSProxy:    mc.Spec.Sidecar.LocalDNSProxy.Enable,
	}
	where := func(field string) string { return " in MeshConfig " + name + " field " + field }
	var err error
	if s.OutboundIPExclusions, err = rules.ParseCIDRList(strings.Join(t.OutboundIPRangeExclusionList, ",")); err != nil {
		return s, fmt.Errorf("%w%s", err, where("spec.traffic.outboundIPRangeExclusionList"))
	}
	if s.OutboundIPInclusions, err = rules.ParseCIDRList(strings.Join(t.OutboundIPRangeInclusionList, ",")); err != nil {
		return s, fmt.Errorf("%w%s", err, where("spec.traffic.outboundIPRangeInclusionList"))
	}
	if s.OutboundPorts, err = jsonPorts(t.OutboundPortExclusionList); err != nil {
		return s, fmt.Errorf("%w%s", err, where("spec.traffic.outboundPortExclusionList"))
	}
	if s.InboundPorts, err = jsonPorts(t.InboundPortExclusionList); err != nil {
		return s, fmt.Errorf("%w%s", err, where("spec.traffic.inboundPortExclusionList"))
	}
	if s.Interfaces, err = rules.ParseInterfaceList(strings.Join(t.NetworkInterfaceExclusionList, ",")); err != nil {
		return s, fmt.Errorf("%w%s", err, where("spec.traffic.networkInterfaceExclusionList"))
	}
	if s.LocalProxyMode, err = rules.ParseLocalProxyMode(mc.Spec.Sidecar.LocalProxyMode); err != nil {
		return s, fmt.Errorf("%w%s", err, where("spec.sidecar.localProxyMode"))
	}
	return s, nil
}

// jsonPorts reads a MeshConfig port list as written: numbers, or strings
// where a schema-less CRD let someone write them.
func jsonPorts(raw []json.RawMessage) ([]uint16, error) {
	var ports []uint16
	for _, r := range raw {
		text := string(r)
		if unq, err := strconv.Unquote(text); err == nil {
			text = unq
		}
		p, err := rules.ParsePort(strings.TrimSpace(text))
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func fromConfigMap(cm *object.ConfigMap, name string) (meshSettings, error) {
	s := meshSettings{Source: "ConfigMap " + name, Origin: meshOrigin{kind: originConfigMap, name: name}, LocalProxyMode: rules.LocalProxyLocalhost}
	where := func(key string) string { return " in ConfigMap " + name + " key " + key }
	var err error
	if s.OutboundIPExclusions, err = rules.ParseCIDRList(cm.Data[keyOutboundIPRangeExclusions]); err != nil {
		return s, fmt.Errorf("%w%s", err, where(keyOutboundIPRangeExclusions))
	}
	if s.OutboundPorts, err = rules.ParsePortList(cm.Data[keyOutboundPortExclusions]); err != nil {
		return s, fmt.Errorf("%w%s", err, where(keyOutboundPortExclusions))
	}
	if s.InboundPorts, err = rules.ParsePortList(cm.Data[keyInboundPortExclusions]); err != nil {
		return s, fmt.Errorf("%w%s", err, where(keyInboundPortExclusions))
	}
	return s, nil
}

// podConfig merges the mesh-wide settings with the pod's annotations as
// OSM's injector did (ports: global then pod; IP ranges: pod then global;
// interfaces: global only) and validates the result for the profile.
func podConfig(profile rules.Profile, mesh meshSettings, pod *object.Pod, podIPs []netip.Addr) (rules.Config, error) {
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
