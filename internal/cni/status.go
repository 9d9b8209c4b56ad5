package cni

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

// cmdStatus (CNI 1.1) reports the plugin not ready when mesh-cni is not
// running on this node at all (the node agent's socket is absent, as
// after a reboot until the DaemonSet's pod starts) or there is no
// iptables.
//
// An agent that is there but slow or restarting does not make STATUS
// fail: the runtime would then report the whole node's network not
// ready, the kubelet would start no pod's sandbox, kube-system's
// included, and after five minutes the node's pods would be evicted - for
// trouble that ADD already answers pod by pod, with "try again later" for
// the meshed pods only.
func (p *Plugin) cmdStatus(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData, false)
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	conf.warnUnknown(newLogger(conf.logLevel, "STATUS", podRef{}))
	if problem := socketProblem(conf.AgentSocket); problem != "" {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("mesh-cni: the node agent's socket %s %s, so mesh-cni is not running on this node; it runs in the mesh-cni DaemonSet's pod (kubectl -n mesh-cni get pods -o wide)", conf.AgentSocket, problem), "")
	}
	if err := iptablesMissing(); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "mesh-cni: "+err.Error(), "")
	}
	return nil
}

// socketProblem says what is wrong with the agent's socket path, or "".
func socketProblem(path string) string {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return "is missing"
	case st.Mode().Type() != fs.ModeSocket:
		return "is not a socket"
	}
	return ""
}

// iptablesMissing is the rule engine's own check, the one Apply makes; a
// variable so that tests need not depend on the host.
var iptablesMissing = apply.CheckInstalled
