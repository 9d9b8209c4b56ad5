package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
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

// serving is a Server on a real socket, with podsOnly answering and
// events recording.
type serving struct {
	sock   string
	rec    *events
	ctx    context.Context
	stop   context.CancelFunc
	served chan error
}

// startServing serves pod on a fresh socket until the test ends.
func startServing(t *testing.T, pod object.Pod) *serving {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &serving{sock: sock, rec: &events{}, ctx: ctx, stop: stop, served: make(chan error, 1)}
	go func() { s.served <- New(podsOnly{pod}, s.rec, slog.New(slog.DiscardHandler)).Serve(ctx, ln) }()
	t.Cleanup(func() { stop(); <-s.served })
	return s
}

// waitEvents waits up to 5 s for want events to be recorded.
func (s *serving) waitEvents(t *testing.T, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.rec.count() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.rec.count(); n != want {
		t.Errorf("%d events recorded, want %d (%s)", n, want, why)
	}
}

// TestProtocol drives the real server on a real socket with the plugin's
// client: answers and their classification, and an event sent without
// waiting for its answer, before and after other requests on the same
// connection.
func TestProtocol(t *testing.T) {
	pod := object.Pod{Metadata: object.ObjectMeta{Namespace: "test", Name: "web", UID: "u-1"}}
	s := startServing(t, pod)
	ctx := s.ctx

	c, err := agent.Dial(ctx, s.sock)
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
	s.waitEvents(t, 3, "the last one sent just before the plugin closed")
}

// TestEventsBeforeClose proves the promise of agent.Client.CreateEvent:
// a plugin that writes events back to back and closes at once loses none,
// though the agent's answer to the first finds the connection closed. A
// raw client writes them, as fast as it can, over many connections, so
// that most closes land before the agent has answered.
func TestEventsBeforeClose(t *testing.T) {
	const conns, perConn = 100, 3
	s := startServing(t, object.Pod{})
	ev := object.Event{Namespace: "test", PodName: "web", Reason: "RedirectionConfigured", Type: object.EventNormal}
	for i := 0; i < conns; i++ {
		conn, err := net.Dial("unix", s.sock)
		if err != nil {
			t.Fatal(err)
		}
		enc := json.NewEncoder(conn)
		for j := 0; j < perConn; j++ {
			if err := enc.Encode(agent.Request{Op: agent.OpEvent, Event: &ev}); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close()
	}
	s.waitEvents(t, conns*perConn, "every event written before a close")
}

// reads records the requests that reach the Reader.
type reads struct{ got []string }

func (r *reads) GetPod(_ context.Context, namespace, name, _ string) (*object.Pod, error) {
	r.got = append(r.got, "pod "+namespace+"/"+name)
	return &object.Pod{}, nil
}

func (r *reads) GetMeshConfig(_ context.Context, namespace, name string) (*object.MeshConfig, error) {
	r.got = append(r.got, "meshconfig "+namespace+"/"+name)
	return &object.MeshConfig{}, nil
}

func (r *reads) GetConfigMap(_ context.Context, namespace, name string) (*object.ConfigMap, error) {
	r.got = append(r.got, "configmap "+namespace+"/"+name)
	return &object.ConfigMap{}, nil
}

// TestAnswerNames proves that a read without a namespace or name is
// refused, as the plugin's mistake (not transient, not "not found"),
// before it reaches the Reader: on the API an empty name lists.
func TestAnswerNames(t *testing.T) {
	for _, tc := range []struct {
		op, namespace, name string
		refused             bool
	}{
		{op: agent.OpPod, namespace: "test", name: "web"},
		{op: agent.OpPod, namespace: "", name: "web", refused: true},
		{op: agent.OpPod, namespace: "test", name: "", refused: true},
		{op: agent.OpMeshConfig, namespace: "osm-system", name: "osm-mesh-config"},
		{op: agent.OpMeshConfig, namespace: "", name: "osm-mesh-config", refused: true},
		{op: agent.OpMeshConfig, namespace: "osm-system", name: "", refused: true},
		{op: agent.OpConfigMap, namespace: "osm-system", name: "osm-config"},
		{op: agent.OpConfigMap, namespace: "", name: "osm-config", refused: true},
		{op: agent.OpConfigMap, namespace: "osm-system", name: "", refused: true},
		{op: agent.OpConfigMap, namespace: "", name: "", refused: true},
	} {
		r := &reads{}
		s := New(r, &events{}, slog.New(slog.DiscardHandler))
		resp := s.answer(context.Background(), agent.Request{Op: tc.op, Namespace: tc.namespace, Name: tc.name})
		what := tc.op + " " + tc.namespace + "/" + tc.name
		if !tc.refused {
			if resp.Error != nil || len(r.got) != 1 || r.got[0] != what {
				t.Errorf("%s: error %v, reads %q, want it read", what, resp.Error, r.got)
			}
			continue
		}
		if e := resp.Error; e == nil || e.Transient || e.NotFound || !strings.Contains(e.Message, "without a namespace or name") {
			t.Errorf("%s: error %+v, want a refusal, neither transient nor not found", what, e)
		}
		if len(r.got) != 0 {
			t.Errorf("%s: the Reader was asked %q", what, r.got)
		}
	}
}

// TestServeClosesConnections proves that no connection outlives Serve: a
// plugin connection open when the context ends is closed, and Serve
// returns.
func TestServeClosesConnections(t *testing.T) {
	s := startServing(t, object.Pod{})
	conn, err := net.Dial("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An answered ping: the agent has accepted the connection.
	if err := json.NewEncoder(conn).Encode(agent.Request{Op: agent.OpPing}); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("reading the ping's answer: %v", err)
	}
	s.stop()
	select {
	case err := <-s.served:
		s.served <- err // for the cleanup
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5 s of its context's end")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("reading after Serve returned = %v, want the connection closed", err)
	}
}
