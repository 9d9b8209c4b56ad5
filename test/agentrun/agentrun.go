// Package agentrun runs mesh-cni's node agent for tests and benchmarks that
// drive the plugin without the installer DaemonSet: the agent's real server
// on a real unix socket, reading a real API server with the given
// kubeconfig's credentials, in the calling process.
package agentrun

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// Agent is a running node agent.
type Agent struct {
	// Socket is the path to put in the plugin's agentSocket.
	Socket string

	t      testing.TB
	cfg    kube.Config
	node   string
	stop   context.CancelFunc
	served chan error
}

// Start starts an agent for node with the kubeconfig's credentials and
// stops it when the test ends. Its log goes to the test's log at debug.
func Start(t testing.TB, kubeconfig, node string) *Agent {
	t.Helper()
	cfg, err := kube.LoadKubeconfig(kubeconfig)
	if err != nil {
		t.Fatalf("agentrun: %v", err)
	}
	dir, err := os.MkdirTemp("", "mesh-cni-agent-")
	if err != nil {
		t.Fatalf("agentrun: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &Agent{Socket: filepath.Join(dir, "agent.sock"), t: t, cfg: cfg, node: node}
	a.Resume()
	t.Cleanup(a.Stop)
	return a
}

// Resume starts the agent again after Stop, on the same socket.
func (a *Agent) Resume() {
	a.t.Helper()
	ln, err := server.Listen(a.Socket)
	if err != nil {
		a.t.Fatalf("agentrun: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{a.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := context.WithCancel(context.Background())
	a.stop, a.served = stop, make(chan error, 1)
	go func() { a.served <- server.Run(ctx, kube.NewClient(a.cfg), a.node, ln, log) }()
}

// Stop stops the agent and waits until it has (the plugin then fails
// meshed pods with "try again later"); calling it again does nothing.
func (a *Agent) Stop() {
	if a.stop == nil {
		return
	}
	a.stop()
	<-a.served
	a.stop = nil
}

// testWriter sends the agent's log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("agent: %s", p)
	return len(p), nil
}
