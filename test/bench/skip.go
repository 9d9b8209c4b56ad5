package main

import (
	"os/exec"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
)

// skipResult is item 2: mesh-cni's ADD for pods it leaves alone.
type skipResult struct {
	// excluded is a pod in kube-system (no request at all: not even the
	// agent is asked).
	excluded series
	// noSidecar is a pod without a sidecar (one request to the agent, for
	// the pod).
	noSidecar series
	// floor is fork+exec+wait of /bin/true: what any exec costs here.
	floor series
	// version is `CNI_COMMAND=VERSION mesh-cni`: starting the plugin's Go
	// binary and nothing else.
	version series
	// emptyGo is a Go program doing nothing: any Go binary's start.
	emptyGo series
	// baseExcluded and baseNoSidecar are the baseline's (-baseline).
	baseExcluded, baseNoSidecar series
	// api is what the kube-apiserver served meanwhile (the agent's reads
	// of the no-sidecar pod, if it did not answer from its watch).
	api apiWindow
}

// noSidecarPod is the pod without a sidecar container.
const noSidecarPod = "nosidecar"

// measureSkip takes turns between the two skip paths, each mesh-cni's
// exec within the chain's ADD through libcni, and the exec floor. Every
// netns is checked to hold no rule of ours afterwards.
func measureSkip(t *phase, k *kernelEnv, runs int) *skipResult {
	uid := k.pods(t, true, noSidecarPod)[noSidecarPod]
	n := k.network(t, "10.231.9.0/24")
	r := &skipResult{
		excluded:      series{name: "skip: namespace excluded (kube-system)"},
		noSidecar:     series{name: "skip: pod without sidecar"},
		floor:         series{name: "exec of /bin/true (floor)"},
		version:       series{name: "mesh-cni VERSION (process start only)"},
		emptyGo:       series{name: "empty Go program (any Go binary's start)"},
		baseExcluded:  series{name: "skip: namespace excluded (kube-system), baseline"},
		baseNoSidecar: series{name: "skip: pod without sidecar, baseline"},
	}
	pods := []cnirun.Pod{{Namespace: "kube-system", Name: "coredns-0"}, {Namespace: benchNamespace, Name: noSidecarPod, UID: uid}}
	into := []*series{&r.excluded, &r.noSidecar}
	nets := []*cnirun.Network{n, n}
	if k.b.baseline != nil {
		base := k.networkIn(t, "10.231.29.0/24", k.b.baseline.dir)
		pods = append(pods, pods...)
		into = append(into, &r.baseExcluded, &r.baseNoSidecar)
		nets = append(nets, base, base)
	}
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Fatalf("no true program: %v", err)
	}
	var before apiCounters
	for run := -1; run < runs; run++ { // run -1 warms up, unrecorded
		t.checkInterrupt()
		if run == 0 {
			before = k.settledAPI(t)
		}
		for j := range pods {
			i := (run + len(pods) + j) % len(pods)
			d := k.addSkipped(t, nets[i], pods[i])
			if run >= 0 {
				into[i].d = append(into[i].d, d)
			}
		}
		floor, version, empty := timeExec(t, trueBin, nil), timeExec(t, k.b.meshCNI, []string{"CNI_COMMAND=VERSION"}), timeExec(t, k.b.emptyGo, nil)
		if run >= 0 {
			r.floor.d = append(r.floor.d, floor)
			r.version.d = append(r.version.d, version)
			r.emptyGo.d = append(r.emptyGo.d, empty)
		}
	}
	r.api = k.apiSince(t, before)
	t.Logf("skip medians: excluded namespace %s, no sidecar %s; kube-apiserver meanwhile: %s", ms(summarize(r.excluded.d).med), ms(summarize(r.noSidecar.d).med), r.api)
	return r
}

// addSkipped ADDs the chain with mesh-cni for a pod out of scope and
// returns mesh-cni's own time.
func (k *kernelEnv) addSkipped(t *phase, n *cnirun.Network, pod cnirun.Pod) time.Duration {
	s := n.NewSandbox(t, pod)
	defer closeSandbox(t, s)
	_, call := addChain(t, n, s)
	if err := k.verify(s, apply.BackendNFT, nil); err != nil {
		t.Fatalf("pod %s/%s is out of scope, yet: %v", pod.Namespace, pod.Name, err)
	}
	return call.Took
}

// timeExec runs a program once and returns its wall time.
func timeExec(t *phase, path string, env []string) time.Duration {
	cmd := exec.Command(path)
	cmd.Env = env
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", path, err, out)
	}
	return time.Since(start)
}
