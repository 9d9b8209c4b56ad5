package agentrun

import (
	"context"
	"log/slog"

	"github.com/mesh-cni/mesh-cni/pkg/agent/server"
	"github.com/mesh-cni/mesh-cni/pkg/kube"
)

// reader is the agent's Reader as the DaemonSet runs it: the watch-backed
// Store.
type reader struct {
	*server.Store
}

func newReader(api *kube.Client, node string, log *slog.Logger) *reader {
	return &reader{server.NewStore(api, node, log)}
}

// run starts the Store's watches; the channel closes when they have
// stopped, so that nothing logs to a finished test.
func (r *reader) run(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return done
}
