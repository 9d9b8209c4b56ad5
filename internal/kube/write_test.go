package kube

import (
	"context"
	"errors"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// TestWritesAPIServer creates, reads and patches a ConfigMap on a real
// kube-apiserver: a second create is AlreadyExists, a patch whose test op
// fails changes nothing.
func TestWritesAPIServer(t *testing.T) {
	cp, c := adminClient(t)
	ctx := context.Background()
	cp.Kubectl(t, "create", "namespace", "demo")
	type configMap struct {
		Metadata struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace,omitempty"`
			UID         string            `json:"uid,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	var in, created configMap
	in.Metadata.Name, in.Data = "settings", map[string]string{"a": "1"}
	const coll, obj = "/api/v1/namespaces/demo/configmaps", "/api/v1/namespaces/demo/configmaps/settings"
	if err := c.Create(ctx, coll, in, &created); err != nil || created.Metadata.UID == "" || created.Metadata.Namespace != "demo" {
		t.Fatalf("Create = %+v, %v", created, err)
	}
	err := c.Create(ctx, coll, in, nil)
	if !IsAlreadyExists(err) || IsTransient(err) {
		t.Fatalf("second Create: %v, want AlreadyExists", err)
	}
	if IsAlreadyExists(errors.New("409 AlreadyExists")) {
		t.Error("IsAlreadyExists matched an error that is no API answer")
	}

	var patched configMap
	ops := []PatchOp{{Op: "test", Path: "/data/a", Value: "1"}, {Op: "add", Path: "/data/b", Value: ""},
		{Op: "add", Path: "/metadata/annotations", Value: map[string]string{"example.com/x": "1"}},
		{Op: "add", Path: "/metadata/annotations/example.com~1y", Value: ""}}
	if err := c.JSONPatch(ctx, obj, ops, &patched); err != nil || len(patched.Data) != 2 {
		t.Fatalf("JSONPatch = %+v, %v", patched, err)
	}
	if v, ok := patched.Metadata.Annotations["example.com/y"]; !ok || v != "" || len(patched.Metadata.Annotations) != 2 {
		t.Errorf("annotations %v, want example.com/x and an empty example.com/y", patched.Metadata.Annotations)
	}
	err = c.JSONPatch(ctx, obj, []PatchOp{{Op: "test", Path: "/data/a", Value: "2"}, {Op: "remove", Path: "/data/a"}}, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 422 {
		t.Fatalf("JSONPatch with a failing test op: %v, want 422", err)
	}
	var got configMap
	if err := c.Get(ctx, obj, &got); err != nil || got.Data["a"] != "1" || len(got.Data) != 2 {
		t.Fatalf("Get after the refused patch = %+v, %v", got, err)
	}
	if err := c.Get(ctx, coll+"/missing", &got); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing object: %v, want ErrNotFound", err)
	}
}

// adminClient starts a real kube-apiserver and returns a client with its
// admin credentials.
func adminClient(t *testing.T) (*cluster.ControlPlane, *Client) {
	t.Helper()
	cp := cluster.StartControlPlane(t)
	cfg, err := LoadKubeconfig(cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(cfg)
	t.Cleanup(c.Close)
	return cp, c
}
