package install

import (
	"context"
	"log/slog"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// Upkeep is what the node agent does for its node beside answering the
// plugin: it repairs the node's pods set up without mesh-cni and removes
// NotReadyTaint from the node, both only while Ready says mesh-cni works
// on the node. The installer runs it with its install's readiness;
// `installer agent` with its own.
type Upkeep struct {
	// API deletes and labels pods, records events, reads and patches the
	// node.
	API *kube.Client
	// Node is this node's name.
	Node string
	// Ready says whether a pod set up now gets its rules.
	Ready func() bool
	Log   *slog.Logger
	// Repair is what is done with a pod set up without mesh-cni, and
	// RepairInterval how often every pod of the node is looked at.
	Repair         server.RepairMode
	RepairInterval time.Duration
	// Resync is how often the node is looked at for the taint once it is
	// gone (a node registered anew has it again).
	Resync time.Duration
	// Scope is the plugin's: repair never deletes a pod the plugin
	// leaves alone.
	Scope server.Scope
	// RunDir is the plugin's run dir, where its journal of set-up pods
	// is; "" judges no pod by the journal.
	RunDir string
}

// untaintInterval is how often the node is checked for NotReadyTaint
// until the install is ready and the taint gone (then every Resync): a pod
// waits for the taint's removal at most this long after readiness.
const untaintInterval = 2 * time.Second

// Start runs repair and the taint's removal until life ends. The store's
// watch hands repair the pods that need it between its passes, so Start
// comes before the store's Run. The returned function waits for both to
// stop once life has ended.
func (u *Upkeep) Start(life context.Context, store *server.Store) (wait func()) {
	r := &server.Repairer{API: u.API, Node: u.Node, Mode: u.Repair, Ready: u.Ready, Scope: u.Scope, Log: u.Log}
	if u.RunDir != "" {
		r.Journal = &journal.Journal{RunDir: u.RunDir}
	}
	store.ObservePods(r.Observe)
	repaired, untainted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(repaired)
		r.Run(life, u.RepairInterval)
	}()
	t := &untainter{api: u.API, node: u.Node, log: u.Log, ready: u.Ready}
	go func() {
		defer close(untainted)
		t.run(life, untaintInterval, u.Resync)
	}()
	return func() {
		<-repaired
		<-untainted
	}
}
