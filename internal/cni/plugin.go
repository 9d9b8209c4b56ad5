package cni

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

// kubeAPI is everything the plugin asks of Kubernetes, through the node
// agent.
type kubeAPI interface {
	meshsettings.Reader
	eventWriter
	// GetPod reads the pod; uid, when known, is the one being set up.
	GetPod(ctx context.Context, namespace, name, uid string) (*object.Pod, error)
	Close()
}

// Plugin is mesh-cni's CNI implementation. Its fields are the seams unit
// tests replace; New gives the real ones.
type Plugin struct {
	// newAPI connects to the node agent at the config's agentSocket.
	newAPI func(ctx context.Context, conf *NetConf) (kubeAPI, error)
	// netns applies and verifies rules in a pod's namespace.
	netns netnsRules
	// journal records each sandbox set up, in the run dir.
	journal setUpJournal
	// host names this node in events.
	host string
}

// New returns the plugin as the binary runs it.
func New() *Plugin {
	host, _ := os.Hostname()
	return &Plugin{
		newAPI: func(ctx context.Context, conf *NetConf) (kubeAPI, error) {
			return agent.Dial(ctx, conf.AgentSocket)
		},
		netns:   kernelRules{opts: apply.Options{LockDir: DefaultLockDir}},
		journal: runDirJournal{},
		host:    host,
	}
}

// recovering turns a panic in a command into a CNI error (code 999) the
// runtime can read and show, rather than a crash with a Go stack trace on
// stderr only; the stack goes to the log, naming the pod.
func recovering(command string, f func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) (err error) {
		defer func() {
			if r := recover(); r != nil {
				pod, _ := parseArgs(args.Args)
				newLogger(0, command, pod).Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = types.NewError(types.ErrInternal, fmt.Sprintf("mesh-cni %s: internal error: %v", command, r), "")
			}
		}()
		return f(args)
	}
}

// cmdGC has nothing to collect: mesh-cni keeps no state outside the
// namespaces, which go away with their pods.
func (p *Plugin) cmdGC(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData, false)
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	conf.warnUnknown(newLogger(conf.logLevel, "GC", podRef{}))
	return nil
}
