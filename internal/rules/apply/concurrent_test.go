package apply

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/netns"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestApplyConcurrently applies 50 pods' rules at once, as a node starting
// many pods does: half of them with detection (nft), half with legacy, each
// with a port of its own so that rules landing in the wrong namespace would
// show. Every pod must end with exactly its own set.
func TestApplyConcurrently(t *testing.T) {
	requireIptables(t)
	const n = 50
	pods := make([]*testPod, n)
	for i := range pods {
		pods[i] = newPod(t)
	}
	var wg sync.WaitGroup
	sets := make([][]rules.RuleSet, n)
	backend := func(i int) Backend { return []Backend{"", BackendLegacy}[i%2] }
	errs := make([]error, n)
	for i, p := range pods {
		cfg := trafficConfig(rules.Profiles[i%2])
		cfg.OutboundPortExclusions = []uint16{uint16(10000 + i)}
		sets[i] = buildSets(t, cfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.apply(sets[i], backend(i))
		}()
	}
	wg.Wait()
	for i, p := range pods {
		if errs[i] != nil {
			t.Errorf("pod %d: Apply: %v", i, errs[i])
			continue
		}
		if err := p.verify(sets[i], backend(i)); err != nil {
			t.Errorf("pod %d: %v", i, err)
		}
		checkOneJump(t, p, []Backend{BackendNFT, BackendLegacy}[i%2])
	}
}

// TestApplyIgnoresHostXtablesLock holds /run/xtables.lock in another
// process, as kube-proxy or a firewall does on a busy node, and shows that
// iptables-legacy-restore waits on it while Apply (legacy, the backend that
// locks) does not: mesh-cni's lock is private to the pod's namespace.
func TestApplyIgnoresHostXtablesLock(t *testing.T) {
	requireIptables(t)
	netns.RequireKernel(t, "flock", "timeout")
	holdHostLock(t)
	p := newPod(t)

	ctrl := exec.Command("timeout", "0.5", "iptables-legacy-restore", "--noflush")
	if err := p.Do(func() error {
		ctrl.Stdin = strings.NewReader("*nat\nCOMMIT\n")
		return ctrl.Run()
	}); ctrl.ProcessState == nil || ctrl.ProcessState.ExitCode() != 124 {
		t.Fatalf("control: iptables-legacy-restore with the host's lock held: %v, want it to wait (timeout's status 124)", err)
	}

	sets := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0))
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := p.apply(sets, BackendLegacy)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		t.Logf("Apply took %s with /run/xtables.lock held", time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("Apply is waiting for /run/xtables.lock")
	}
	mustVerify(t, p, sets, BackendLegacy)
}

// holdHostLock makes a child process hold /run/xtables.lock until the
// test ends.
func holdHostLock(t *testing.T) {
	t.Helper()
	cmd := exec.Command("flock", "/run/xtables.lock", "-c", "echo held; exec sleep 120")
	// Its own process group: the lock is held by flock and by the shell
	// it starts, and both must go.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "held\n" {
			t.Fatalf("flock /run/xtables.lock said %q", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("could not take /run/xtables.lock within 30s: someone holds it")
	}
}

// TestApplySameNetnsConcurrently races ten Applies on one namespace, as a
// retried ADD racing the first one would: they take turns on the netns
// lock (each removes its files before unlocking, and a waiter holding a
// removed file starts again), all succeed, the namespace ends with one set
// and one jump, and neither a lock file nor the lock directory outlives the
// work.
func TestApplySameNetnsConcurrently(t *testing.T) {
	requireIptables(t)
	p := newPod(t)
	sets := buildSets(t, rules.DefaultConfig(rules.ProfileOSMv0))
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.apply(sets, BackendLegacy)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Apply %d: %v", i, err)
		}
	}
	mustVerify(t, p, sets, BackendLegacy)
	checkOneJump(t, p, BackendLegacy)
	if left, err := os.ReadDir(p.lockDir); err == nil || !os.IsNotExist(err) {
		t.Errorf("lock directory %s still there (%v), holding %d files", p.lockDir, err, len(left))
	}
}
