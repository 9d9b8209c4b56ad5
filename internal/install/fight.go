package install

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fightDetector notices when our entry keeps disappearing: some agent is
// rewriting the config without it, and each gap lets pods start without
// traffic redirection.
type fightDetector struct {
	threshold int
	window    time.Duration
	now       func() time.Time
	times     []time.Time
	warned    time.Time
}

// record notes one re-add and reports whether to warn now: more than
// threshold re-adds within window, at most one warning per window.
func (f *fightDetector) record() bool {
	now := time.Now()
	if f.now != nil {
		now = f.now()
	}
	keep := f.times[:0]
	for _, t := range f.times {
		if now.Sub(t) < f.window {
			keep = append(keep, t)
		}
	}
	f.times = append(keep, now)
	if len(f.times) <= f.threshold || (!f.warned.IsZero() && now.Sub(f.warned) < f.window) {
		return false
	}
	f.warned = now
	return true
}

func (f *fightDetector) count() int { return len(f.times) }

// knownAgents names the component that usually owns a CNI config, by the
// plugin types it holds; the first match wins.
var knownAgents = []struct{ pluginType, agent string }{
	{"istio-cni", "Istio's CNI installer (istio-cni-node), which also manages chain entries"},
	{"linkerd-cni", "Linkerd's CNI installer (linkerd-cni), which also manages chain entries"},
	{"cilium-cni", "cilium-agent (with cni.exclusive=true it removes other plugins' configs)"},
	{"calico", "calico-node's install-cni container"},
	{"flannel", "kube-flannel's install-cni container"},
	{"aws-cni", "aws-node (AWS VPC CNI)"},
	{"multus", "multus (it regenerates 00-multus.conf)"},
	{"multus-shim", "multus (it regenerates 00-multus.conf)"},
	{"weave-net", "weave-net"},
	{"antrea", "antrea-agent's install-cni container"},
}

// culprit guesses who rewrites the file at path, for the log line.
func culprit(path, network string, types []string) string {
	for _, k := range knownAgents {
		if slices.Contains(types, k.pluginType) {
			return k.agent
		}
	}
	if network == "kindnet" || strings.Contains(filepath.Base(path), "kindnet") {
		return "kindnetd, which rewrites its config periodically"
	}
	return fmt.Sprintf("the agent that writes %s (network %q, plugins %s)", filepath.Base(path), network, strings.Join(types, ","))
}
