package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// ObjectMeta is the part of metadata mesh-cni reads.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	UID         string            `json:"uid,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Container is a pod's container, by name.
type Container struct {
	Name string `json:"name"`
}

// Pod is the part of a core/v1 Pod that decides mesh-cni's work.
type Pod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		HostNetwork    bool        `json:"hostNetwork"`
		InitContainers []Container `json:"initContainers"`
		Containers     []Container `json:"containers"`
	} `json:"spec"`
}

// MeshTraffic is MeshConfig's spec.traffic. Port lists stay raw JSON so
// that a bad value can be reported as written, not as a decoding error.
type MeshTraffic struct {
	OutboundIPRangeExclusionList  []string          `json:"outboundIPRangeExclusionList"`
	OutboundIPRangeInclusionList  []string          `json:"outboundIPRangeInclusionList"`
	OutboundPortExclusionList     []json.RawMessage `json:"outboundPortExclusionList"`
	InboundPortExclusionList      []json.RawMessage `json:"inboundPortExclusionList"`
	NetworkInterfaceExclusionList []string          `json:"networkInterfaceExclusionList"`
}

// MeshConfig is the part of OSM's MeshConfig that shapes the rules.
type MeshConfig struct {
	// APIVersion is the version it was read at (v1alpha2 or v1alpha1).
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       struct {
		Traffic MeshTraffic `json:"traffic"`
		Sidecar struct {
			LocalProxyMode string `json:"localProxyMode"`
		} `json:"sidecar"`
	} `json:"spec"`
}

// ConfigMap is a core/v1 ConfigMap's metadata and string data.
type ConfigMap struct {
	Metadata ObjectMeta        `json:"metadata"`
	Data     map[string]string `json:"data"`
}

// MeshConfigVersions are the API versions of config.openservicemesh.io
// tried, newest first: OSM v1.1+ serves v1alpha2, earlier ones v1alpha1.
var MeshConfigVersions = []string{"v1alpha2", "v1alpha1"}

// GetPod reads a pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*Pod, error) {
	var p Pod
	if err := c.do(ctx, "GET", "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name), nil, &p, c.Retries); err != nil {
		return nil, fmt.Errorf("reading pod %s/%s: %w", namespace, name, err)
	}
	return &p, nil
}

// GetMeshConfig reads a MeshConfig at the newest version served; an error
// matching ErrNotFound means no version has it (or the CRD is absent).
func (c *Client) GetMeshConfig(ctx context.Context, namespace, name string) (*MeshConfig, error) {
	var last error
	for _, v := range MeshConfigVersions {
		var mc MeshConfig
		path := "/apis/config.openservicemesh.io/" + v + "/namespaces/" + url.PathEscape(namespace) + "/meshconfigs/" + url.PathEscape(name)
		err := c.do(ctx, "GET", path, nil, &mc, c.Retries)
		if err == nil {
			return &mc, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("reading MeshConfig %s/%s: %w", namespace, name, err)
		}
		last = err
		// All served versions share one storage: if this version is
		// served and lacks the object, the older one lacks it too.
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.ObjectMissing {
			break
		}
	}
	return nil, fmt.Errorf("reading MeshConfig %s/%s: %w", namespace, name, last)
}

// GetConfigMap reads a ConfigMap.
func (c *Client) GetConfigMap(ctx context.Context, namespace, name string) (*ConfigMap, error) {
	var cm ConfigMap
	if err := c.do(ctx, "GET", "/api/v1/namespaces/"+url.PathEscape(namespace)+"/configmaps/"+url.PathEscape(name), nil, &cm, c.Retries); err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, name, err)
	}
	return &cm, nil
}
