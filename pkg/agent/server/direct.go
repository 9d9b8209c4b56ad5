package server

import (
	"context"

	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
)

// Direct is a Reader that asks the API server on every request: the
// Store's fallback, and a Reader for tests that must see every read.
type Direct struct {
	API *kube.Client
}

// GetPod reads the pod from the API; uid is checked by the plugin.
func (d Direct) GetPod(ctx context.Context, namespace, name, _ string) (*object.Pod, error) {
	return d.API.GetPod(ctx, namespace, name)
}

// GetMeshConfig reads the MeshConfig from the API.
func (d Direct) GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error) {
	return d.API.GetMeshConfig(ctx, namespace, name)
}

// GetConfigMap reads the ConfigMap from the API.
func (d Direct) GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error) {
	return d.API.GetConfigMap(ctx, namespace, name)
}
