package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/test/cnirun"
	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// burstPods is how many meshed pods arrive during each fault, one every
// burstGap, so that the burst spans the outage.
const (
	burstPods = 50
	burstGap  = 250 * time.Millisecond
	// faultAfter is when, after the first pod, the fault starts.
	faultAfter = 2 * time.Second
	// giveUp bounds how long a pod may keep failing after its first ADD.
	giveUp = 2 * time.Minute
)

// fault takes away something the plugin needs, for hold, and gives it back.
type fault struct {
	name    string
	stop    func(t *testing.T)
	hold    time.Duration
	restart func(t *testing.T)
	// refuses: ADDs during the fault must be refused (the agent has
	// nothing to answer from), not only may be.
	refuses bool
}

// TestBurstFaults adds 50 meshed pods while kube-apiserver is restarted,
// while etcd is stopped for 10 s, while the node agent is stopped for 5 s,
// and while the agent restarts during an API outage (so it has no pods
// to answer from). Every ADD must either succeed with the pod's rules or fail with code
// 11 (try again later) leaving no chain; the runtime then DELs and tries
// again, as kubelet does, and every pod must end with exactly its rules.
func TestBurstFaults(t *testing.T) {
	e := newEnv(t, "10.230.0.0/24")
	// The rules every pod must end with: a pod added before any fault.
	uid := e.pod(t, "test", "burst-reference", "envoy", nil)
	ref := e.newSandbox(t, "test", "burst-reference", uid, "1.0.0", "")
	ref.mustAdd(t)
	want := podRules(ref.natTables(t), ref.IP.String())
	if !slices.ContainsFunc(want, func(l string) bool { return strings.HasPrefix(l, ":PROXY_") }) {
		t.Fatalf("the reference pod has no mesh chains:\n%s", strings.Join(want, "\n"))
	}
	for i, f := range []fault{
		{"kube-apiserver restarted", func(t *testing.T) { e.cp.Stop(t) }, 0, func(t *testing.T) { e.cp.Start(t) }, false},
		{"etcd stopped for 10s", func(t *testing.T) { e.cp.StopEtcd(t) }, 10 * time.Second, func(t *testing.T) { e.cp.StartEtcd(t) }, false},
		{"agent stopped for 5s", func(*testing.T) { e.agent.Stop() }, 5 * time.Second, func(*testing.T) { e.agent.Resume() }, true},
		{"agent restarted while kube-apiserver is down", func(t *testing.T) { e.agent.Stop(); e.cp.Stop(t); e.agent.Resume() },
			3 * time.Second, func(t *testing.T) { e.cp.Start(t) }, true},
	} {
		t.Run(f.name, func(t *testing.T) { e.burst(t, fmt.Sprintf("burst%d", i), f, want) })
	}
}

// attempt is one ADD of a pod: when it ran and how it ended.
type attempt struct {
	start, end time.Time
	err        error
}

// burstPod is one pod of a burst and every ADD the runtime made for it.
type burstPod struct {
	name     string
	s        *sandbox
	n        *cnirun.Network
	attempts []attempt
	// bad is an outcome the plugin must never give: another error code, a
	// failed ADD that left chains, or no success before giveUp.
	bad error
}

// burst creates the pods, starts their ADDs one every burstGap, applies
// the fault, waits for every pod and checks what each ended with.
func (e *env) burst(t *testing.T, prefix string, f fault, want []string) {
	pods := e.burstPods(t, prefix)
	var wg sync.WaitGroup
	begin := time.Now()
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * burstGap)
			addUntilDone(p)
		}()
	}
	time.Sleep(faultAfter)
	down := time.Now()
	f.stop(t)
	time.Sleep(f.hold)
	f.restart(t)
	up := time.Now()
	wg.Wait()

	var during, refused, retried int
	var longest time.Duration
	for _, p := range pods {
		name := p.name
		if p.bad != nil {
			t.Errorf("pod %s: %v", name, p.bad)
			continue
		}
		for _, a := range p.attempts {
			if a.start.Before(up) && a.end.After(down) {
				during++
			}
			if a.err != nil {
				refused++
			}
		}
		if len(p.attempts) > 1 {
			retried++
		}
		longest = max(longest, p.attempts[len(p.attempts)-1].end.Sub(p.attempts[0].start))
		if err := p.s.Check(context.Background()); err != nil {
			t.Errorf("pod %s: CHECK after the burst: %v", name, err)
		}
		if got := podRules(p.s.natTables(t), p.s.IP.String()); !slices.Equal(got, want) {
			t.Errorf("pod %s ended with other rules than a pod added before the fault:\ngot:\n%s\nwant:\n%s",
				name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The fault must have landed inside the burst, or the test proves nothing.
	if during == 0 {
		t.Errorf("no ADD ran while %s (down %s .. up %s)", f.name, down.Sub(begin), up.Sub(begin))
	}
	if f.refuses && refused == 0 {
		t.Errorf("no ADD was refused while %s: the refusal path was not exercised", f.name)
	}
	t.Logf("%s: %d pods, outage %.1fs from %.1fs; %d ADDs ran during it, %d refused with code 11, %d pods retried, all with their rules; longest first-ADD-to-success %.1fs",
		f.name, len(pods), up.Sub(down).Seconds(), down.Sub(begin).Seconds(), during, refused, retried, longest.Seconds())
}

// burstPods creates the burst's pod objects in one apply and a sandbox for
// each.
func (e *env) burstPods(t *testing.T, prefix string) []*burstPod {
	var docs []string
	for i := range burstPods {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s-%d\n  namespace: test\n  labels:\n    osm-proxy-uuid: 0f8fad5b-d9cb-469f-a165-70867728950e\n"+
			"    burst: %s\nspec:\n  nodeName: %s\n  containers:\n  - name: app\n    image: app\n  - name: envoy\n    image: envoy\n", prefix, i, prefix, nodeName))
	}
	e.cp.Apply(t, strings.Join(docs, "---\n"))
	t.Cleanup(func() { e.cp.TryKubectl("delete", "pod", "-n", "test", "-l", "burst="+prefix, "--wait=false") })
	uids := map[string]string{}
	out := e.cp.Kubectl(t, "get", "pod", "-n", "test", "-l", "burst="+prefix, "-o", `jsonpath={range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, uid, _ := strings.Cut(line, " ")
		uids[name] = uid
	}
	pods := make([]*burstPod, burstPods)
	for i := range pods {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if uids[name] == "" {
			t.Fatalf("pod test/%s has no UID after the apply:\n%s", name, out)
		}
		pods[i] = &burstPod{name: name, s: e.newSandbox(t, "test", name, uids[name], "1.0.0", ""), n: e.chain(t, "1.0.0", "")}
	}
	return pods
}

// addUntilDone runs the chain's ADD until it succeeds. A refused ADD must
// be code 11 and leave no chain; then the runtime's DEL, a pause, and ADD
// again, as kubelet does.
func addUntilDone(p *burstPod) {
	n := p.n
	first := time.Now()
	for {
		a := attempt{start: time.Now()}
		a.err = p.s.add()
		a.end = time.Now()
		p.attempts = append(p.attempts, a)
		if a.err == nil {
			return
		}
		var cniErr *types.Error
		if !errors.As(a.err, &cniErr) || cniErr.Code != types.ErrTryAgainLater {
			p.bad = fmt.Errorf("ADD %d failed other than with code 11: %w", len(p.attempts), a.err)
			return
		}
		if nat, err := natOf(p.s.NS.Name); err != nil || strings.Contains(nat, ":PROXY_") {
			p.bad = fmt.Errorf("refused ADD %d left mesh chains (%v):\n%s", len(p.attempts), err, nat)
			return
		}
		if err := n.CNI().DelNetworkList(context.Background(), n.Chain(true), p.s.Runtime); err != nil {
			p.bad = fmt.Errorf("DEL after refused ADD %d: %w", len(p.attempts), err)
			return
		}
		if time.Since(first) > giveUp {
			p.bad = fmt.Errorf("still refused after %s: %w", giveUp, a.err)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// natOf is both backends' nat table in the netns, for goroutines that
// cannot fail the test themselves.
func natOf(netnsName string) (string, error) {
	var out strings.Builder
	for _, save := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		b, err := exec.Command("ip", "netns", "exec", netnsName, save, "-t", "nat").CombinedOutput()
		if err != nil {
			return out.String(), fmt.Errorf("%s in %s: %v: %s", save, netnsName, err, b)
		}
		out.Write(b)
	}
	return out.String(), nil
}

// podRules is a pod's nat rules with its own address replaced, so pods of
// the same configuration compare equal.
func podRules(nat, podIP string) []string {
	lines := podcheck.NATLines(nat)
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, podIP, "POD_IP")
	}
	return lines
}
