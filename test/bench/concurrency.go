package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
)

// hostXtablesLock is the file iptables-legacy (and kube-proxy through it)
// locks on the host.
const hostXtablesLock = "/run/xtables.lock"

// concResult is item 3 for one backend and one way of starting the ADDs.
type concResult struct {
	backend apply.Backend
	// what says which ADDs ran at once: mesh-cni alone, or whole chains.
	what string
	// n ADDs were started at once; ok of them completed with exactly the
	// expected rules.
	n, ok int
	// wall is from the start signal to the last ADD's end.
	wall time.Duration
	// each is every ADD's duration as the caller saw it (mesh-cni's
	// exec, or the whole chain through libcni).
	each []time.Duration
	// meshEach is mesh-cni's exec within each ADD.
	meshEach []time.Duration
	// cpu is the CPU time all plugin processes of the ADDs used (their
	// iptables programs included).
	cpu time.Duration
	// apiCPU is the CPU time kube-apiserver and etcd used meanwhile.
	apiCPU time.Duration
	// lockHeld: another process held the host's xtables lock from before
	// the first ADD until after the last.
	lockHeld bool
	errs     []string
	// retriable counts the failed ADDs that returned CNI error 11 (try
	// again later), which kubelet retries.
	retriable int
	// lockErrs counts failures that mention the xtables lock: an ADD that
	// tried the host's lock and gave up.
	lockErrs int
}

// measureConcurrency starts count ADDs at once, per backend, while
// another process holds the host's xtables lock: first mesh-cni's ADD
// alone in count netns the chain's earlier plugins have already set up
// (the plugin's own behaviour), then count whole chains (what a node
// starting count pods at once does).
func measureConcurrency(t *phase, k *kernelEnv, count int) []concResult {
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("conc-%d", i)
	}
	uids := k.pods(t, false, names...)
	var out []concResult
	for i, b := range backends {
		for j, alone := range []bool{true, false} {
			t.checkInterrupt()
			n := k.network(t, fmt.Sprintf("10.232.%d.0/24", 2*i+j))
			r := k.concurrentAdds(t, n, b, alone, names, uids)
			t.Logf("%s, %s: %d/%d ADDs right, wall %s, slowest %s", b, r.what, r.ok, r.n, ms(r.wall), ms(summarize(r.each).maxVal))
			out = append(out, r)
		}
	}
	return out
}

func (k *kernelEnv) concurrentAdds(t *phase, n *cnirun.Network, b apply.Backend, alone bool, names []string, uids map[string]string) concResult {
	r := concResult{backend: b, n: len(names), what: "whole chain (bridge+host-local+mesh-cni)"}
	if alone {
		r.what = "mesh-cni ADD alone (bridge+host-local done before)"
	}
	boxes := make([]*cnirun.Sandbox, len(names))
	for i, name := range names {
		boxes[i] = n.NewSandbox(t, cnirun.Pod{Namespace: benchNamespace, Name: name, UID: uids[name]})
		k.seed(t, boxes[i], b)
		if alone {
			if err := boxes[i].Add(context.Background(), false); err != nil {
				t.Fatalf("preparing sandbox %d: %v", i, err)
			}
		}
	}
	defer func() {
		for _, s := range boxes {
			closeSandbox(t, s)
		}
	}()
	holder := holdHostLock(t)
	n.Recorder.Take()
	apiBefore := k.apiCPU()
	errs := make([]error, len(boxes))
	took := make([]time.Duration, len(boxes))
	ends := make([]time.Time, len(boxes))
	var wg sync.WaitGroup
	startSignal := make(chan struct{})
	for i, s := range boxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startSignal
			began := time.Now()
			if alone {
				errs[i] = s.AddMesh(context.Background())
			} else {
				errs[i] = s.Add(context.Background(), true)
			}
			ends[i] = time.Now()
			took[i] = ends[i].Sub(began)
		}()
	}
	start := time.Now()
	close(startSignal)
	wg.Wait()
	r.apiCPU = k.apiCPU() - apiBefore
	r.lockHeld = holder.stillHeld()
	holder.release()
	calls := n.Recorder.Take()
	for _, c := range calls {
		if c.Command == "ADD" {
			r.cpu += c.CPU
		}
	}
	for i, s := range boxes {
		r.wall = max(r.wall, ends[i].Sub(start))
		mesh, found := cnirun.Find(calls, "mesh-cni", "ADD", s.Runtime.ContainerID)
		if found {
			r.meshEach = append(r.meshEach, mesh.Took)
		}
		r.each = append(r.each, took[i])
		err := errs[i]
		if err == nil {
			err = k.verify(s, b, []rules.RuleSet{k.want})
		}
		if err != nil {
			r.errs = append(r.errs, err.Error())
			if strings.Contains(err.Error(), "xtables lock") {
				r.lockErrs++
			}
			var cniErr *types.Error
			if errors.As(err, &cniErr) && cniErr.Code == types.ErrTryAgainLater {
				r.retriable++
			}
			continue
		}
		r.ok++
	}
	// Failed ADDs are a result, reported on the page, not a failure of the
	// measurement.
	if len(r.errs) > 0 {
		t.Logf("%s, %s: %d of %d ADDs failed or left other rules; first: %s", b, r.what, len(r.errs), r.n, r.errs[0])
	}
	return r
}

// lockHolder is another process holding the host's xtables lock, as
// kube-proxy does while it syncs.
type lockHolder struct {
	cmd *exec.Cmd
}

// holdHostLock starts `flock /run/xtables.lock sleep` and returns once the
// lock is held.
func holdHostLock(t *phase) *lockHolder {
	cmd := exec.Command("flock", hostXtablesLock, "sh", "-c", "echo held; exec sleep 3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("lock holder: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting flock %s: %v", hostXtablesLock, err)
	}
	h := &lockHolder{cmd: cmd}
	t.Cleanup(h.release)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("flock %s did not take the lock: %q %v", hostXtablesLock, line, err)
	}
	if !h.stillHeld() {
		t.Fatalf("%s is not locked although flock says it holds it", hostXtablesLock)
	}
	return h
}

// stillHeld tries to take the lock without waiting: it must fail.
func (h *lockHolder) stillHeld() bool {
	f, err := os.Open(hostXtablesLock)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// release kills the holder's process group; a second call does nothing.
func (h *lockHolder) release() {
	if h.cmd.Process == nil || h.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	h.cmd.Wait()
}

// apiCPU is the CPU time kube-apiserver and etcd have used so far.
func (k *kernelEnv) apiCPU() time.Duration {
	var d time.Duration
	for _, f := range []string{"kube-apiserver.pid", "etcd.pid"} {
		d += processCPU(filepath.Join(k.cp.Dir, f))
	}
	return d
}

// processCPU reads utime+stime from /proc/PID/stat for the pid in a
// pidfile; 0 when it cannot.
func processCPU(pidfile string) time.Duration {
	pid, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	// test/cluster writes "PID BINARY".
	f := strings.Fields(string(pid))
	if len(f) == 0 {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + f[0] + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: utime and stime are fields 14 and 15 of the line.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	f = strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
