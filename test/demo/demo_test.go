//go:build e2e

package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// TestMakeDemo runs `make demo` as a person would, twice (the second reuses
// the node and the pods), checks what each step shows, then `make demo-down`
// and the host as it was; then a `make demo` interrupted with Ctrl-C once
// its node is up, which must tear that node down. It needs the node: run it
// after the e2e suite, never beside it (the Makefile's test target does).
func TestMakeDemo(t *testing.T) {
	repo, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.TearDownNode(t.Logf); err != nil {
		t.Fatalf("removing a node left by an earlier run: %v", err)
	}
	before := cluster.HostListing()
	t.Cleanup(func() {
		if t.Failed() {
			make_(t, repo, "demo-down")
		}
	})

	first := make_(t, repo, "demo")
	expect(t, first, []string{
		`(?m)^    no node to reuse .*: starting one$`,
		`(?m)^    node mesh-cni-node Ready in [0-9.]+s$`,
		`(?m)^    mesh-demo/app: Ready [0-9.]+s after kubectl create \(measured\)$`,
	})
	checkSteps(t, first)

	second := make_(t, repo, "demo")
	expect(t, second, []string{
		`(?m)^    reusing the running node mesh-cni-node `,
		`(?m)^    reusing osm-injector \(pid [0-9]+\)`,
		`(?m)^    mesh-demo/app: kept from an earlier run; it was Ready [0-9]+s after its creation`,
		`(?m)^    mesh-demo/app-bad-annotation: kept from an earlier run$`,
	})
	checkSteps(t, second)

	down := make_(t, repo, "demo-down")
	expect(t, down, []string{`(?m)^make demo-down: no node left on this machine, the host as it was`})
	checkHost(t, before)

	interrupted := interruptedDemo(t, repo)
	expect(t, interrupted, []string{
		`make demo: interrupted: tearing down the node this run started`,
		`(?m)^make demo: the node is gone$`,
	})
	checkHost(t, before)
}

// checkSteps checks what every run shows, reused or not.
func checkSteps(t *testing.T, out string) {
	t.Helper()
	expect(t, out, []string{
		`(?m)^app +2/2 +Running `,
		`(?m)^    ok: 2/2 Running$`,
		`(?m)^(Annotations:)? +mesh-cni\.io/osm-init-command:$`,
		`(?m)^ *Normal +RedirectionConfigured `,
		`(?m)^-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 15001$`,
		// The app's connection, on the sidecar with its original destination.
		`(?m)^sidecar-outbound (10\.244\.0\.[0-9]+):8080 app$`,
		// Envoy's (uid 1500), straight to the peer.
		`(?m)^app 8080 peer$`,
		`(?m)^-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports 8080 -j RETURN$`,
		`(?m)^sidecar-outbound 10\.244\.0\.[0-9]+:9090 app-excluded$`,
		`(?m)^app-bad-annotation +0/2 +ContainerCreating `,
		`(?m)FailedCreatePodSandBox .*70000`,
		`(?m)^  export KUBECONFIG=/var/lib/mesh-cni-localnode/cp/admin\.kubeconfig$`,
		`(?m)^  kubectl get pods -A$`,
		`make demo-down stops everything`,
	})
	// osm-init is gone; the webhook's unprivileged validator ran instead.
	if strings.Contains(out, "\n  osm-init:\n") || !strings.Contains(out, "\n  mesh-cni-validation:\n") {
		t.Errorf("kubectl describe pod shows osm-init, or no mesh-cni-validation:\n%s", out)
	}
	if n := strings.Count(out, "\n==> "); n != 13 {
		t.Errorf("%d steps headed, want 13", n)
	}
}

// checkHost is test/cluster's check that a tear-down left nothing.
func checkHost(t *testing.T, before string) {
	t.Helper()
	if left := cluster.Leftovers(); len(left) > 0 {
		t.Errorf("left on the host:\n%s", strings.Join(left, "\n"))
	}
	if after := cluster.HostListing(); after != before {
		t.Errorf("host directories not as they were:\nbefore: %s\nafter:  %s", before, after)
	}
}

func expect(t *testing.T, out string, patterns []string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("output lacks %s", p)
		}
	}
}

// make_ runs a make target in the repository and returns its output; a
// failing target fails the test.
func make_(t *testing.T, repo, target string) string {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	t.Logf("make %s:\n%s", target, out)
	if err != nil {
		t.Fatalf("make %s: %v", target, err)
	}
	return string(out)
}

// interruptedDemo starts make demo on a host without a node and sends
// SIGINT to its process group, as Ctrl-C in a terminal does, once the node
// it started is Ready; make must fail.
func interruptedDemo(t *testing.T, repo string) string {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "demo")
	cmd.Dir = repo
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "node mesh-cni-node Ready in") {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
				sent = true
			}
		}
	}()
	err := cmd.Wait()
	pw.Close()
	wg.Wait()
	t.Logf("interrupted make demo:\n%s", out.String())
	if err == nil {
		t.Errorf("make demo interrupted exited 0")
	}
	if _, statErr := os.Stat(cluster.NodeStateDir); statErr == nil {
		t.Errorf("%s still there after the interrupt", cluster.NodeStateDir)
	}
	return out.String()
}
