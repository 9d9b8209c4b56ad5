// Package object holds the parts of Kubernetes objects mesh-cni reads and
// the events it writes, with no client attached: the plugin, which is
// exec'd for every pod, links these without net/http and crypto/tls, whose
// start-up alone would cost it milliseconds per pod.
package object

import (
	"encoding/json"
	"errors"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("not found")

// ObjectMeta is the part of metadata mesh-cni reads.
type ObjectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

// Container is a pod's container, by name.
type Container struct {
	Name string `json:"name"`
}

// PodSpec is the part of a pod's spec that decides mesh-cni's work.
type PodSpec struct {
	NodeName       string      `json:"nodeName,omitempty"`
	HostNetwork    bool        `json:"hostNetwork"`
	InitContainers []Container `json:"initContainers"`
	Containers     []Container `json:"containers"`
}

// Pod is the part of a core/v1 Pod that decides mesh-cni's work.
type Pod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
}

// MeshTraffic is MeshConfig's spec.traffic. Port lists stay raw JSON so
// that a bad value can be reported as written, not as a decoding error.
type MeshTraffic struct {
	OutboundIPRangeExclusionList  []string          `json:"outboundIPRangeExclusionList"`
	OutboundIPRangeInclusionList  []string          `json:"outboundIPRangeInclusionList"`
	OutboundPortExclusionList     []json.RawMessage `json:"outboundPortExclusionList"`
	InboundPortExclusionList      []json.RawMessage `json:"inboundPortExclusionList"`
	NetworkInterfaceExclusionList []string          `json:"networkInterfaceExclusionList"`
	// InterceptionMode is osm-edge's (v1.3+): iptables, ebpf or none.
	InterceptionMode string `json:"interceptionMode,omitempty"`
	// UseHTTPSIngress exists only in OSM v0.9-v0.11's MeshConfig
	// v1alpha1: kept raw, as a sign of that generation.
	UseHTTPSIngress json.RawMessage `json:"useHTTPSIngress,omitempty"`
}

// MeshSidecar is MeshConfig's spec.sidecar, as far as the rules need it.
type MeshSidecar struct {
	LocalProxyMode string `json:"localProxyMode"`
	// LocalDNSProxy is osm-edge's: when on, its injector points the
	// pod's resolver at 127.0.0.153 and the rules need a DNS rule.
	LocalDNSProxy MeshLocalDNSProxy `json:"localDNSProxy"`
}

// MeshLocalDNSProxy is osm-edge's spec.sidecar.localDNSProxy.
type MeshLocalDNSProxy struct {
	Enable bool `json:"enable"`
}

// MeshConfigSpec is the part of MeshConfig's spec that shapes the rules.
type MeshConfigSpec struct {
	Traffic MeshTraffic `json:"traffic"`
	Sidecar MeshSidecar `json:"sidecar"`
}

// MeshConfig is the part of OSM's MeshConfig that shapes the rules.
type MeshConfig struct {
	// APIVersion is the version it was read at (v1alpha2 or v1alpha1).
	APIVersion string         `json:"apiVersion"`
	Metadata   ObjectMeta     `json:"metadata"`
	Spec       MeshConfigSpec `json:"spec"`
}

// ConfigMap is a core/v1 ConfigMap's metadata and string data.
type ConfigMap struct {
	Metadata ObjectMeta        `json:"metadata"`
	Data     map[string]string `json:"data"`
}

// Event types, as kubectl shows them.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Event is what mesh-cni reports about a pod.
type Event struct {
	// Namespace, PodName and PodUID name the pod the event is about.
	Namespace string `json:"namespace"`
	PodName   string `json:"podName"`
	PodUID    string `json:"podUID,omitempty"`
	// Type is EventNormal or EventWarning.
	Type string `json:"type"`
	// Reason is a short CamelCase word, e.g. RedirectionConfigured.
	Reason string `json:"reason"`
	// Message is the human-readable text.
	Message string `json:"message"`
	// Component reports who acted, e.g. mesh-cni.
	Component string `json:"component"`
	// Host is the node's name.
	Host string `json:"host,omitempty"`
}
