// Package meshsettings reads OSM's mesh-wide traffic settings (the
// MeshConfig, else OSM v0.8's osm-config ConfigMap, else OSM's defaults),
// merges them with a pod's exclusion annotations as OSM's injector did,
// picks the rule generation the cluster shows and reads osm-edge's
// interception mode. The CNI plugin computes a pod's rules from it at ADD,
// and the admission webhook renders from it the record it writes on an
// osm-edge pod in interceptionMode none: one piece of code, so the record
// is exactly what the plugin would have computed.
package meshsettings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/rules"
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

// Settings are the mesh-wide settings, validated, and where they came
// from.
type Settings struct {
	// Source names the object read, for messages ("MeshConfig
	// osm-system/osm-mesh-config (config.openservicemesh.io/v1alpha2)").
	Source string
	// Origin is what the settings were read from, and its signs of the
	// mesh's generation (generation.go).
	Origin Origin
	// InterceptionMode is osm-edge's spec.traffic.interceptionMode as
	// written ("" for OSM, which has no such field).
	InterceptionMode     string
	LocalDNSProxy        bool
	OutboundIPExclusions []string
	OutboundIPInclusions []string
	OutboundPorts        []uint16
	InboundPorts         []uint16
	Interfaces           []string
	LocalProxyMode       rules.LocalProxyMode
}

// Reader is the part of a Kubernetes client that reads the mesh
// configuration: the node agent's for the plugin, internal/kube's for the
// webhook. A missing object is an error matching object.ErrNotFound.
type Reader interface {
	GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error)
	GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error)
}

// Gather reads the MeshConfig meshConfigName in namespace, else the
// osm-config ConfigMap there, else takes OSM's defaults. Only "not found"
// falls through: any other failure is an error, because guessing would
// install the wrong rules.
func Gather(ctx context.Context, r Reader, namespace, meshConfigName string) (Settings, error) {
	mc, err := r.GetMeshConfig(ctx, namespace, meshConfigName)
	if err == nil {
		return fromMeshConfig(mc, namespace+"/"+meshConfigName)
	}
	if !errors.Is(err, object.ErrNotFound) {
		return Settings{}, err
	}
	cm, err := r.GetConfigMap(ctx, namespace, OSMConfigMapName)
	if err == nil {
		return fromConfigMap(cm, namespace+"/"+OSMConfigMapName)
	}
	if !errors.Is(err, object.ErrNotFound) {
		return Settings{}, err
	}
	return Settings{Source: "defaults (no MeshConfig " + namespace + "/" + meshConfigName + " nor ConfigMap " + namespace + "/" + OSMConfigMapName + ")",
		Origin: Origin{kind: originDefaults}, LocalProxyMode: rules.LocalProxyLocalhost}, nil
}

func fromMeshConfig(mc *object.MeshConfig, name string) (Settings, error) {
	t := mc.Spec.Traffic
	s := Settings{
		Source: "MeshConfig " + name + " (" + mc.APIVersion + ")",
		Origin: Origin{kind: originMeshConfig, name: name, apiVersion: mc.APIVersion,
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

func fromConfigMap(cm *object.ConfigMap, name string) (Settings, error) {
	s := Settings{Source: "ConfigMap " + name, Origin: Origin{kind: originConfigMap, name: name}, LocalProxyMode: rules.LocalProxyLocalhost}
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
