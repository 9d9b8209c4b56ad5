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
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/pkg/agent"
	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
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

// Listen creates the socket at path, replacing one a previous agent left,
// readable and writable by root only: the answers include any pod's
// annotations, and a request may write events.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the agent socket's directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the old agent socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return ln, nil
}

// Serve answers connections on ln until ctx ends, then closes ln (which
// removes the socket file) and gives queued events a moment to be written.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.events.run(ctx)
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var err error
	pause := acceptPause
	for {
		conn, aerr := ln.Accept()
		if aerr == nil {
			pause = acceptPause
			go s.serveConn(ctx, conn)
			continue
		}
		if ctx.Err() != nil || errors.Is(aerr, net.ErrClosed) {
			if ctx.Err() == nil {
				err = fmt.Errorf("accepting on the agent socket: %w", aerr)
			}
			break
		}
		// Out of file descriptors or the like: the next pod's ADD may
		// find one free, so keep serving, as net/http does.
		s.log.Warn("accepting on the agent socket failed; retrying", "error", aerr, "pause", pause.String())
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		pause = min(2*pause, maxAcceptPause)
	}
	wg.Wait()
	return err
}

// acceptPause and maxAcceptPause bound the wait after a failed accept.
const (
	acceptPause    = 5 * time.Millisecond
	maxAcceptPause = time.Second
)

// serveConn answers one plugin invocation's requests in order.
func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	enc := json.NewEncoder(conn)
	for sc.Scan() {
		var req agent.Request
		var resp agent.Response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = &agent.Error{Message: fmt.Sprintf("mesh-cni agent: malformed request: %v", err)}
		} else {
			resp = s.answer(ctx, req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

// answer is one request's response.
func (s *Server) answer(ctx context.Context, req agent.Request) agent.Response {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var resp agent.Response
	var err error
	switch req.Op {
	case agent.OpPing:
	case agent.OpPod:
		resp.Pod, err = s.reader.GetPod(ctx, req.Namespace, req.Name, req.UID)
	case agent.OpMeshConfig:
		resp.MeshConfig, err = s.reader.GetMeshConfig(ctx, req.Namespace, req.Name)
	case agent.OpConfigMap:
		resp.ConfigMap, err = s.reader.GetConfigMap(ctx, req.Namespace, req.Name)
	case agent.OpEvent:
		if req.Event == nil {
			err = errors.New("mesh-cni agent: event request without an event")
		} else {
			s.events.add(*req.Event)
		}
	default:
		err = fmt.Errorf("mesh-cni agent: unknown operation %q", req.Op)
	}
	if err != nil {
		resp = agent.Response{Error: classify(err)}
	}
	return resp
}

// classify carries what the plugin needs to know about err across the
// socket.
func classify(err error) *agent.Error {
	return &agent.Error{
		Message:     err.Error(),
		NotFound:    errors.Is(err, object.ErrNotFound),
		Transient:   kube.IsTransient(err),
		Unreachable: kube.IsUnreachable(err),
	}
}
