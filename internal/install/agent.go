package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/install/phase"
	"github.com/mesh-cni/mesh-cni/internal/install/status"
)

// AgentSocketName is the node agent's socket in the run dir. With the
// default run dir it is agent.DefaultSocket, where the plugin dials when
// its entry names no socket.
const AgentSocketName = "agent.sock"

// pingTimeout bounds one check that the agent answers. A ping needs no
// API call, so only a wedged agent or a machine under extreme load takes
// this long; either way the plugin would fail pods too.
const pingTimeout = 2 * time.Second

// agentRunner keeps the node agent served on its socket: it listens, and
// listens anew when the socket file is removed or replaced (a plugin dials
// the path, not our open listener) or the agent stops answering.
type agentRunner struct {
	path   string
	srv    *server.Server
	log    *slog.Logger
	status *status.Status
	// life is the agent's whole life: it outlives Run's context, so that
	// pods added while the entry is being removed still get answers.
	life context.Context

	mu        sync.Mutex
	stopServe context.CancelFunc // nil when not serving
	done      chan struct{}      // closed when Serve has returned
	file      os.FileInfo        // the socket we created
}

// ensure makes the agent serve on its socket and checks that it answers:
// the chain entry, which sends pods to it, is written only after this.
func (a *agentRunner) ensure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.done == nil:
	case !a.socketIsOurs():
		a.status.Reinstalled("agent-socket")
		a.log.Warn("the node agent's socket was removed or replaced; listening again", "socket", a.path)
	default:
		err := a.ping()
		if err == nil {
			return nil
		}
		a.log.Warn("the node agent did not answer on its socket; listening again", "socket", a.path, "error", err.Error())
	}
	a.stopLocked()
	ln, err := server.Listen(a.path)
	if err != nil {
		return err
	}
	st, err := os.Lstat(a.path)
	if err != nil {
		ln.Close()
		return fmt.Errorf("checking %s: %w", a.path, err)
	}
	ctx, cancel := context.WithCancel(a.life)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.srv.Serve(ctx, ln); err != nil {
			a.log.Error("the node agent stopped accepting; the next check listens again", "socket", a.path, "error", err.Error())
		}
	}()
	a.stopServe, a.done, a.file = cancel, done, st
	if err := a.ping(); err != nil {
		return fmt.Errorf("the node agent does not answer on %s: %w", a.path, err)
	}
	a.log.Info("the node agent serves the plugin", "socket", a.path, phase.Key, phase.AgentServing)
	return nil
}

// socketIsOurs says whether the path still holds the socket we listen on.
func (a *agentRunner) socketIsOurs() bool {
	st, err := os.Lstat(a.path)
	return err == nil && st.Mode()&os.ModeSocket != 0 && os.SameFile(st, a.file)
}

// stop ends serving and waits for it; closing the listener removes the
// socket file, so nothing is left behind on the host.
func (a *agentRunner) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil {
		a.stopLocked()
		a.log.Info("the node agent stopped", "socket", a.path)
	}
}

func (a *agentRunner) stopLocked() {
	if a.done == nil {
		return
	}
	a.stopServe()
	<-a.done
	a.stopServe, a.done = nil, nil
}

// check is the agent's part of readiness: it answers a ping now.
func (a *agentRunner) check() error {
	if err := a.ping(); err != nil {
		return fmt.Errorf("the node agent does not answer on %s: %w", a.path, err)
	}
	return nil
}

// ping asks the agent over its socket, as the plugin does.
func (a *agentRunner) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	c, err := agent.Dial(ctx, a.path)
	if err == nil {
		defer c.Close()
		err = c.Ping(ctx)
	}
	// The plugin's message tells operators where the agent runs; here
	// the cause alone is the news.
	var ue *agent.UnavailableError
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
