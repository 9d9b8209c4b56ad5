package kube

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// MeshConfigVersions are the API versions of config.openservicemesh.io
// tried, newest first: OSM v1.1+ serves v1alpha2, earlier ones v1alpha1.
var MeshConfigVersions = []string{"v1alpha2", "v1alpha1"}

// GetPod reads a pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*object.Pod, error) {
	var p object.Pod
	if err := c.do(ctx, "GET", "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name), nil, &p, c.Retries); err != nil {
		return nil, fmt.Errorf("reading pod %s/%s: %w", namespace, name, err)
	}
	return &p, nil
}

// GetMeshConfig reads a MeshConfig at the newest version served; an error
// matching ErrNotFound means no version has it (or the CRD is absent).
func (c *Client) GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error) {
	var last error
	for _, v := range MeshConfigVersions {
		var mc object.MeshConfig
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
func (c *Client) GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error) {
	var cm object.ConfigMap
	if err := c.do(ctx, "GET", "/api/v1/namespaces/"+url.PathEscape(namespace)+"/configmaps/"+url.PathEscape(name), nil, &cm, c.Retries); err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, name, err)
	}
	return &cm, nil
}
