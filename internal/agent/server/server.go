// Package server is the node agent's side of package agent: it listens on
// the unix socket the plugin dials, answers reads from a Reader (a
// watch-backed Store in the DaemonSet) and records events after answering,
// so that no pod's start waits for the API's write.
package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// Reader is where the answers come from.
type Reader interface {
	GetPod(ctx context.Context, namespace, name, uid string) (*object.Pod, error)
	GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error)
	GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error)
}

// EventWriter records events on pods.
type EventWriter interface {
	CreateEvent(ctx context.Context, ev object.Event) error
}

// requestTimeout bounds the work for one request; the plugin's own
// deadline (its apiTimeout) is usually shorter and closes the connection.
const requestTimeout = 10 * time.Second

// maxLine bounds one request: an event message with two osm-init command
// lines is a few kilobytes.
const maxLine = 1 << 20

// Server answers the plugin on one node.
type Server struct {
	reader Reader
	events *eventQueue
	log    *slog.Logger
}

// New returns a server reading from r and recording events with w.
func New(r Reader, w EventWriter, log *slog.Logger) *Server {
	return &Server{reader: r, events: newEventQueue(w, log), log: log}
}

// Serve answers connections on ln until ctx ends, then closes ln (which
// removes the socket file) and the connections still open, and gives
// queued events a moment to be written. It returns once all of them are
// done, so nothing it started outlives it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// The queue stops after the connections: the events they read until
	// closed are written too.
	qctx, stopQueue := context.WithCancel(context.WithoutCancel(ctx))
	queued := make(chan struct{})
	go func() {
		defer close(queued)
		s.events.run(qctx)
	}()
	stopListening := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopListening()
	open := &conns{set: map[net.Conn]struct{}{}}
	err := s.accept(ctx, ln, open)
	open.closeAll()
	stopQueue()
	<-queued
	return err
}

// accept serves the connections on ln until it is closed.
func (s *Server) accept(ctx context.Context, ln net.Listener, open *conns) error {
	pause := acceptPause
	for {
		conn, err := ln.Accept()
		if err == nil {
			pause = acceptPause
			open.serve(conn, func() { s.serveConn(ctx, conn) })
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("accepting on the agent socket: %w", err)
		}
		// Out of file descriptors or the like: the next pod's ADD may
		// find one free, so keep serving, as net/http does.
		s.log.Warn("accepting on the agent socket failed; retrying", "error", err, "pause", pause.String())
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		pause = min(2*pause, maxAcceptPause)
	}
}

// acceptPause and maxAcceptPause bound the wait after a failed accept.
const (
	acceptPause    = 5 * time.Millisecond
	maxAcceptPause = time.Second
)

// idleTimeout bounds the wait for a request's line and for its answer's
// write: a client that connects and stalls, or stops reading, must not
// hold a goroutine and its buffer for ever. A plugin asks within its API
// timeout (10 s by default) and reads every answer it waits for.
const idleTimeout = 2 * time.Minute

// conns are the connections one Serve has open, so that it can close
// them when it stops and wait for their goroutines.
type conns struct {
	mu  sync.Mutex
	set map[net.Conn]struct{}
	wg  sync.WaitGroup
}

// serve runs fn, which serves conn, in a goroutine of its own, and closes
// conn after it. Only the accept loop calls it, never after closeAll.
func (c *conns) serve(conn net.Conn, fn func()) {
	c.mu.Lock()
	c.set[conn] = struct{}{}
	c.mu.Unlock()
	c.wg.Go(func() {
		defer c.drop(conn)
		fn()
	})
}

func (c *conns) drop(conn net.Conn) {
	c.mu.Lock()
	delete(c.set, conn)
	c.mu.Unlock()
	conn.Close()
}

// closeAll closes the open connections, which ends their reads, and
// waits for their goroutines.
func (c *conns) closeAll() {
	c.mu.Lock()
	for conn := range c.set {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// serveConn answers one plugin invocation's requests in order. Once an
// answer cannot be written, the plugin has closed the connection: it
// sends its events without waiting for their answers and may exit at
// once. The events it wrote before are still to be read, so serveConn
// reads on to EOF and queues them, answering nothing and serving nothing
// else: nobody reads the answers.
func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	enc := json.NewEncoder(conn)
	answering := true
	for nextLine(conn, sc) {
		var req agent.Request
		err := json.Unmarshal(sc.Bytes(), &req)
		if !answering {
			if err == nil && req.Op == agent.OpEvent {
				_ = s.queue(req) // an event request without one: nobody to tell
			}
			continue
		}
		resp := agent.Response{Error: &agent.Error{Message: fmt.Sprintf("mesh-cni agent: malformed request: %v", err)}}
		if err == nil {
			resp = s.answer(ctx, req)
		}
		answering = conn.SetWriteDeadline(time.Now().Add(idleTimeout)) == nil && enc.Encode(resp) == nil
	}
}

// nextLine reads the next request's line within idleTimeout.
func nextLine(conn net.Conn, sc *bufio.Scanner) bool {
	return conn.SetReadDeadline(time.Now().Add(idleTimeout)) == nil && sc.Scan()
}

// answer is one request's response.
func (s *Server) answer(ctx context.Context, req agent.Request) agent.Response {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var resp agent.Response
	var err error
	switch req.Op {
	case agent.OpPing:
	case agent.OpPod, agent.OpMeshConfig, agent.OpConfigMap:
		resp, err = s.read(ctx, req)
	case agent.OpEvent:
		err = s.queue(req)
	default:
		err = fmt.Errorf("mesh-cni agent: unknown operation %q", req.Op)
	}
	if err != nil {
		resp = agent.Response{Error: classify(err)}
	}
	return resp
}

// read answers a request for one object. One without a namespace or name
// is the plugin's mistake and goes no further: on the API, an empty name
// turns the GET into a LIST.
func (s *Server) read(ctx context.Context, req agent.Request) (agent.Response, error) {
	var resp agent.Response
	if req.Namespace == "" || req.Name == "" {
		return resp, fmt.Errorf("mesh-cni agent: %s request without a namespace or name", req.Op)
	}
	var err error
	switch req.Op {
	case agent.OpPod:
		resp.Pod, err = s.reader.GetPod(ctx, req.Namespace, req.Name, req.UID)
	case agent.OpMeshConfig:
		resp.MeshConfig, err = s.reader.GetMeshConfig(ctx, req.Namespace, req.Name)
	case agent.OpConfigMap:
		resp.ConfigMap, err = s.reader.GetConfigMap(ctx, req.Namespace, req.Name)
	}
	return resp, err
}

// queue queues the event of an event request.
func (s *Server) queue(req agent.Request) error {
	if req.Event == nil {
		return errors.New("mesh-cni agent: event request without an event")
	}
	s.events.add(*req.Event)
	return nil
}

// classify carries what the plugin needs to know about err across the
// socket.
func classify(err error) *agent.Error {
	return &agent.Error{
		Message:  err.Error(),
		NotFound: errors.Is(err, object.ErrNotFound),
		// A 403 is not retried here, but the plugin says "try again later"
		// for it: a kube-apiserver that has just started refuses until its
		// authorizer has read the RBAC objects, and an install applies the
		// RBAC beside the DaemonSet. kubelet retries the sandbox either
		// way, and the message still names the refusal.
		Transient:   kube.IsTransient(err) || isForbidden(err),
		Unreachable: kube.IsUnreachable(err),
	}
}

// isForbidden says whether err is the API server's 403.
func isForbidden(err error) bool {
	var apiErr *kube.APIError
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusForbidden
}
