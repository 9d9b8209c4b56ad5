// Package meshtest serves mesh settings from memory, for the tests of the
// plugin, the webhook and internal/meshsettings.
package meshtest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// ErrNotFound is what Fake answers for an object it does not hold, as the
// API's 404 reads once wrapped.
var ErrNotFound = fmt.Errorf("GET: %w", object.ErrNotFound)

// Fake is a meshsettings.Reader holding one MeshConfig and one ConfigMap
// (nil: not found), or failing with the errors given.
type Fake struct {
	MC    *object.MeshConfig
	CM    *object.ConfigMap
	MCErr error
	CMErr error
	// CMCalled records that the ConfigMap was asked for.
	CMCalled bool
}

// GetMeshConfig answers MC or MCErr, whatever the name asked.
func (f *Fake) GetMeshConfig(context.Context, string, string) (*object.MeshConfig, error) {
	if f.MCErr != nil {
		return nil, f.MCErr
	}
	if f.MC == nil {
		return nil, ErrNotFound
	}
	return f.MC, nil
}

// GetConfigMap answers CM or CMErr, whatever the name asked.
func (f *Fake) GetConfigMap(context.Context, string, string) (*object.ConfigMap, error) {
	f.CMCalled = true
	if f.CMErr != nil {
		return nil, f.CMErr
	}
	if f.CM == nil {
		return nil, ErrNotFound
	}
	return f.CM, nil
}

// MeshConfig decodes a MeshConfig read at apiVersion (v1alpha1 or
// v1alpha2) with this spec, the way the API returns it.
func MeshConfig(t testing.TB, apiVersion, spec string) *object.MeshConfig {
	t.Helper()
	var mc object.MeshConfig
	if err := json.Unmarshal([]byte(`{"apiVersion":"config.openservicemesh.io/`+apiVersion+`","spec":`+spec+`}`), &mc); err != nil {
		t.Fatal(err)
	}
	return &mc
}

// SeedConfigMap is the osm-config ConfigMap of the troubleshooting guide.
func SeedConfigMap() *object.ConfigMap {
	return &object.ConfigMap{Data: map[string]string{
		"outbound_ip_range_exclusion_list": "1.1.1.1/32, 2.2.2.2/24",
		"outbound_port_exclusion_list":     "6379, 7070",
		"egress":                           "true",
	}}
}

// Pod is test/web-1 as OSM's injector leaves it (its label, an app and an
// envoy container, no osm-init), changed by mutate.
func Pod(mutate ...func(*object.Pod)) *object.Pod {
	p := &object.Pod{Metadata: object.ObjectMeta{Namespace: "test", Name: "web-1", UID: "u-1",
		Labels: map[string]string{"osm-proxy-uuid": "b5b6a5a4-0c2b-4a8e-9f43-2a1d3c7e9f10"}}}
	p.Spec.Containers = []object.Container{{Name: "app"}, {Name: "envoy"}}
	for _, m := range mutate {
		m(p)
	}
	return p
}
