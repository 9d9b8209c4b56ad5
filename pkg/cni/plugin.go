package cni

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/mesh-cni/mesh-cni/pkg/agent"
	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// PluginInfo lists the CNI versions mesh-cni speaks: every version with a
// prevResult, which a chained plugin needs (0.3.1 on).
var PluginInfo = version.PluginSupports("0.3.1", "0.4.0", "1.0.0", "1.1.0")

// About describes the plugin to skel, which prints it where a runtime asks
// for no command; main never gets there (it runs the CLI instead).
const About = "mesh-cni: chained CNI plugin installing OSM's traffic-redirection rules"

// kubeAPI is everything the plugin asks of Kubernetes, through the node
// agent.
type kubeAPI interface {
	meshReader
	eventWriter
	// GetPod reads the pod; uid, when known, is the one being set up.
	GetPod(ctx context.Context, namespace, name, uid string) (*object.Pod, error)
	// Ping checks that the agent answers.
	Ping(ctx context.Context) error
	Close()
}

// Plugin is mesh-cni's CNI implementation. Its fields are the seams unit
// tests replace; New gives the real ones.
type Plugin struct {
	// newAPI connects to the node agent at the config's agentSocket.
	newAPI func(ctx context.Context, conf *NetConf) (kubeAPI, error)
	// netns applies and verifies rules in a pod's namespace.
	netns netnsRules
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
		netns: kernelRules{opts: rules.ApplyOptions{LockDir: DefaultLockDir}},
		host:  host,
	}
}

// Funcs returns the plugin's commands for skel.PluginMainFuncs, each one
// turning a panic into a CNI error rather than a crash the runtime cannot
// read.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{
		Add:    recovering("ADD", p.cmdAdd),
		Check:  recovering("CHECK", p.cmdCheck),
		Del:    recovering("DEL", p.cmdDel),
		Status: recovering("STATUS", p.cmdStatus),
		GC:     recovering("GC", p.cmdGC),
	}
}

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

// Main runs the plugin for the runtime; it does not return on error.
func Main() {
	skel.PluginMainFuncs(New().Funcs(), PluginInfo, About)
}

// cmdGC has nothing to collect: mesh-cni keeps no state outside the
// namespaces, which go away with their pods.
func (p *Plugin) cmdGC(args *skel.CmdArgs) error {
	if _, err := parseConf(args.StdinData, false); err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	return nil
}
