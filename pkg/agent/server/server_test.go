package server

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/pkg/agent"
	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
)

// podsOnly answers one pod and nothing else; the protocol, not the Store,
// is under test here.
type podsOnly struct{ pod object.Pod }

func (p podsOnly) GetPod(_ context.Context, namespace, name, _ string) (*object.Pod, error) {
	if namespace+"/"+name != p.pod.Metadata.Namespace+"/"+p.pod.Metadata.Name {
		return nil, &kube.APIError{Code: 404, Message: "pods not found", ObjectMissing: true}
	}
	pod := p.pod
	return &pod, nil
}

func (podsOnly) GetMeshConfig(context.Context, string, string) (*object.MeshConfig, error) {
	return nil, &kube.APIError{Code: 404, Message: "not served"}
}

func (podsOnly) GetConfigMap(context.Context, string, string) (*object.ConfigMap, error) {
	return nil, &kube.APIError{Code: 503, Message: "etcd unavailable"}
}

// events records what the agent writes.
type events struct {
	mu  sync.Mutex
	got []object.Event
}

func (e *events) CreateEvent(_ context.Context, ev object.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return nil
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

// TestProtocol drives the real server on a real socket with the plugin's
// client: answers and their classification, and an event sent without
// waiting for its answer, before and after other requests on the same
// connection.
func TestProtocol(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	rec := &events{}
	pod := object.Pod{Metadata: object.ObjectMeta{Namespace: "test", Name: "web", UID: "u-1"}}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- New(podsOnly{pod}, rec, slog.New(slog.DiscardHandler)).Serve(ctx, ln) }()
	defer func() { stop(); <-served }()

	c, err := agent.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev := object.Event{Namespace: "test", PodName: "web", Reason: "RedirectionConfigured", Type: object.EventNormal}
	for i := 0; i < 2; i++ {
		if err := c.CreateEvent(ctx, ev); err != nil {
			t.Fatalf("CreateEvent: %v", err)
		}
	}
	got, err := c.GetPod(ctx, "test", "web", "u-1")
	if err != nil || got.Metadata.UID != "u-1" {
		t.Fatalf("GetPod after two events = %+v, %v", got, err)
	}
	if _, err := c.GetPod(ctx, "test", "gone", ""); !errors.Is(err, object.ErrNotFound) || agent.IsTransient(err) {
		t.Errorf("GetPod of a missing pod = %v, want not found", err)
	}
	_, err = c.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
	if !errors.Is(err, object.ErrNotFound) || agent.IsTransient(err) {
		t.Errorf("GetMeshConfig = %v, want not found, not transient", err)
	}
	_, err = c.GetConfigMap(ctx, "osm-system", "osm-config")
	if !agent.IsTransient(err) || agent.IsUnreachable(err) || errors.Is(err, object.ErrNotFound) {
		t.Errorf("GetConfigMap = %v, want transient, reachable", err)
	}
	if err := c.CreateEvent(ctx, ev); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for rec.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := rec.count(); n != 3 {
		t.Errorf("%d events recorded, want 3 (the last one sent just before the plugin closed)", n)
	}
}
