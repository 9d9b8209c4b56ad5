package server

import (
	"context"
	"log/slog"
	"net"
	"sync"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// Run serves the node agent on ln until ctx ends: a Store of node's pods
// and the mesh configuration in front of api, events written with api. It
// returns once the Store's watches have stopped too, so that nothing of
// the agent outlives it. The installer runs the agent its own way (it
// replaces the socket when someone removes it); Run is the agent alone,
// for `installer agent` and the tests.
func Run(ctx context.Context, api *kube.Client, node string, ln net.Listener, log *slog.Logger) error {
	return RunStore(ctx, NewStore(api, node, log), api, ln, log)
}

// RunStore is Run with a Store the caller made, so that it can have its
// pods observed first (Store.ObservePods).
func RunStore(ctx context.Context, store *Store, api *kube.Client, ln net.Listener, log *slog.Logger) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		store.Run(ctx)
	}()
	err := New(store, api, log).Serve(ctx, ln)
	wg.Wait()
	return err
}
