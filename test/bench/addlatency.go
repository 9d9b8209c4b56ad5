package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
)

// addResult is item 1 for one backend: the meshed pod's ADD, mesh-cni
// against the osm-init command chain, each in a fresh netns after bridge
// and host-local.
type addResult struct {
	backend apply.Backend
	// mesh is mesh-cni's own exec within the chain's ADD through libcni.
	mesh series
	// base is the baseline's (-baseline), in the same kind of netns; its
	// writers are counted in baseWriters.
	base        series
	baseWriters map[string]int
	// osmInit is `sh -c "<osm-init chain>"` in the same kind of netns.
	osmInit series
	// meshChain and osmChain are the whole sandbox set-up: the chain with
	// mesh-cni, and the chain without it followed by the osm-init chain.
	meshChain, osmChain series
	// meshCPU and osmCPU are the CPU time of mesh-cni's ADD and of the
	// osm-init chain, their child processes included: unlike wall time,
	// it hardly changes when other work competes for the cores.
	meshCPU, osmCPU series
	// rss is mesh-cni's peak RSS in each ADD, in bytes.
	rss []int64
	// phases are the parts of mesh-cni's ADD its log line reports:
	// agent_ms (the config parsed, then pod, MeshConfig and ConfigMap read
	// from the node agent), apply_ms (iptables), event_ms (the Event
	// handed to the agent, which writes it to the API after answering).
	phases map[string][]time.Duration
	// writers counts the measured ADDs by what wrote their rules, from
	// the log line's writer field: netlink or iptables-restore.
	writers map[string]int
	// api is what the kube-apiserver served for the agent while the
	// measured runs went on: whether its answers came from a watch or
	// from live reads.
	api apiWindow
}

// addPodName is the meshed pod every ADD of item 1 is for.
const addPodName = "meshed"

// measureAddLatency takes turns, runs times per backend: (A) the chain
// bridge + host-local + mesh-cni through libcni, (B) the chain without
// mesh-cni, then the osm-init chain in that netns. Each netns is checked
// afterwards to hold exactly the default rule set, in the backend asked
// for: both contenders do the same work.
func measureAddLatency(t *phase, k *kernelEnv, runs int) []addResult {
	uid := k.pods(t, false, addPodName)[addPodName]
	var out []addResult
	for i, b := range backends {
		n := k.network(t, fmt.Sprintf("10.231.%d.0/24", i))
		r := addResult{backend: b,
			mesh:      series{name: fmt.Sprintf("mesh-cni ADD (%s)", b)},
			osmInit:   series{name: fmt.Sprintf("osm-init chain (%s)", b)},
			meshChain: series{name: fmt.Sprintf("bridge+host-local+mesh-cni (%s)", b)},
			osmChain:  series{name: fmt.Sprintf("bridge+host-local, then osm-init chain (%s)", b)},
			meshCPU:   series{name: fmt.Sprintf("mesh-cni ADD, CPU time (%s)", b)},
			osmCPU:    series{name: fmt.Sprintf("osm-init chain, CPU time (%s)", b)},
			phases:    map[string][]time.Duration{},
			writers:   map[string]int{},
			base:      series{name: fmt.Sprintf("mesh-cni ADD (%s), baseline", b)},
		}
		pod := cnirun.Pod{Namespace: benchNamespace, Name: addPodName, UID: uid}
		// One unmeasured round of each warms the page cache, the API
		// server's caches and the agent.
		k.addMeshed(t, n, pod, b)
		k.addOSMInit(t, n, pod, b)
		var base *cnirun.Network
		if k.b.baseline != nil {
			base = k.networkIn(t, fmt.Sprintf("10.231.%d.0/24", 20+i), k.b.baseline.dir)
			r.baseWriters = map[string]int{}
			k.addMeshed(t, base, pod, b)
		}
		before := k.settledAPI(t)
		for run := 0; run < runs; run++ {
			t.checkInterrupt()
			contenders := []func(){
				func() {
					chain, call := k.addMeshed(t, n, pod, b)
					r.meshChain.d = append(r.meshChain.d, chain)
					r.mesh.d = append(r.mesh.d, call.Took)
					r.rss = append(r.rss, call.MaxRSS)
					r.meshCPU.d = append(r.meshCPU.d, call.CPU)
					for k, v := range logPhases(call.Stderr) {
						r.phases[k] = append(r.phases[k], v)
					}
					r.writers[logField(call.Stderr, "writer")]++
				},
				func() {
					chain, osm, cpu := k.addOSMInit(t, n, pod, b)
					r.osmChain.d = append(r.osmChain.d, chain+osm)
					r.osmInit.d = append(r.osmInit.d, osm)
					r.osmCPU.d = append(r.osmCPU.d, cpu)
				},
			}
			if base != nil {
				contenders = append(contenders, func() {
					_, call := k.addMeshed(t, base, pod, b)
					r.base.d = append(r.base.d, call.Took)
					r.baseWriters[logField(call.Stderr, "writer")]++
				})
			}
			// Take turns at going first, so none always follows another.
			for i := range contenders {
				contenders[(run+i)%len(contenders)]()
			}
		}
		r.api = k.apiSince(t, before)
		t.Logf("%s: mesh-cni median %s, osm-init chain median %s; kube-apiserver meanwhile: %s; agent's watches open: %s", b,
			ms(summarize(r.mesh.d).med), ms(summarize(r.osmInit.d).med), r.api, watchList(r.api.agentWatches))
		out = append(out, r)
	}
	return out
}

// addMeshed ADDs the chain with mesh-cni in a fresh netns and returns the
// chain's wall time and mesh-cni's own call.
func (k *kernelEnv) addMeshed(t *phase, n *cnirun.Network, pod cnirun.Pod, b apply.Backend) (time.Duration, cnirun.Call) {
	s := n.NewSandbox(t, pod)
	defer closeSandbox(t, s)
	k.seed(t, s, b)
	took, call := addChain(t, n, s)
	if err := k.verify(s, b, []rules.RuleSet{k.want}); err != nil {
		t.Fatalf("after mesh-cni ADD: %v\nplugin log:\n%s", err, call.Stderr)
	}
	return took, call
}

// addChain runs the chain with mesh-cni in s and returns its wall time
// and mesh-cni's own call.
func addChain(t *phase, n *cnirun.Network, s *cnirun.Sandbox) (time.Duration, cnirun.Call) {
	n.Recorder.Take()
	start := time.Now()
	err := s.Add(context.Background(), true)
	took := time.Since(start)
	calls := n.Recorder.Take()
	if err != nil {
		t.Fatalf("%v\nplugin log:\n%s", err, stderrOf(calls))
	}
	call, ok := cnirun.Find(calls, "mesh-cni", "ADD", s.Runtime.ContainerID)
	if !ok {
		t.Fatalf("libcni did not run mesh-cni for %s", s.Runtime.ContainerID)
	}
	return took, call
}

// addOSMInit ADDs the chain without mesh-cni in a fresh netns, then runs
// the osm-init chain there; it returns both wall times and the chain's
// CPU time.
func (k *kernelEnv) addOSMInit(t *phase, n *cnirun.Network, pod cnirun.Pod, b apply.Backend) (chain, osm, cpu time.Duration) {
	s := n.NewSandbox(t, pod)
	defer closeSandbox(t, s)
	k.seed(t, s, b)
	start := time.Now()
	if err := s.Add(context.Background(), false); err != nil {
		t.Fatalf("%v", err)
	}
	chain = time.Since(start)
	osm, cpu, err := k.runOSMInit(s, b)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := k.verify(s, b, []rules.RuleSet{k.want}); err != nil {
		t.Fatalf("after the osm-init chain: %v", err)
	}
	return chain, osm, cpu
}

// closeSandbox DELs a sandbox now, so the subnet's addresses and the
// netns do not pile up over hundreds of runs.
func closeSandbox(t *phase, s *cnirun.Sandbox) {
	if err := s.Close(); err != nil {
		t.Errorf("%v", err)
	}
}

// stderrOf joins the plugins' logs of some calls, for error messages.
func stderrOf(calls []cnirun.Call) string {
	var s string
	for _, c := range calls {
		s += fmt.Sprintf("[%s %s] %s", c.Plugin, c.Command, c.Stderr)
	}
	return s
}

// logPhases reads the *_ms fields of mesh-cni's "traffic redirection
// configured" log line.
// logField is the value of the field key in mesh-cni's log lines, or "".
func logField(stderr, key string) string {
	for _, f := range strings.Fields(stderr) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func logPhases(stderr string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, f := range strings.Fields(stderr) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || !strings.HasSuffix(k, "_ms") {
			continue
		}
		if x, err := strconv.ParseFloat(strings.Trim(v, `"`), 64); err == nil {
			out[k] = time.Duration(x * float64(time.Millisecond))
		}
	}
	return out
}
