package agentrun

import (
	"context"
	"log/slog"

	"github.com/mesh-cni/mesh-cni/pkg/agent/server"
	"github.com/mesh-cni/mesh-cni/pkg/kube"
)

// reader is the agent's Reader as the DaemonSet runs it.
type reader struct {
	server.Direct
}

func newReader(api *kube.Client, _ string, _ *slog.Logger) *reader {
	return &reader{server.Direct{API: api}}
}

// run starts the reader's work; the channel closes when it has stopped.
func (r *reader) run(context.Context) <-chan struct{} {
	done := make(chan struct{})
	close(done)
	return done
}
