//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installerSelector selects deploy/'s installer pods.
const installerSelector = "app.kubernetes.io/component=installer"

// offNodeSelector is a node selector no node matches: with it in the
// DaemonSet's template, no installer runs anywhere.
const offNodeSelector = "mesh-cni.io~1e2e-off"

// installerPID returns the node's pid of the running installer's process,
// found by its container's ID in the process's cgroup.
func (s *suite) installerPID(t *testing.T) string {
	t.Helper()
	out := s.must(t, "get", "pods", "-n", "mesh-cni", "-l", installerSelector, "--field-selector", "status.phase=Running",
		"-o", `jsonpath={range .items[*]}{.metadata.deletionTimestamp}{"|"}{.status.containerStatuses[0].containerID}{"\n"}{end}`)
	var id string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if del, cid, _ := strings.Cut(line, "|"); del == "" && strings.HasPrefix(cid, "containerd://") {
			id = strings.TrimPrefix(cid, "containerd://")
		}
	}
	if id == "" {
		t.Fatalf("no running installer container: %q", out)
	}
	script := fmt.Sprintf(`for p in /proc/[0-9]*; do if grep -q %s $p/cgroup 2>/dev/null && [ "$(tr '\0' ' ' < $p/cmdline)" = "/installer " ]; then echo ${p#/proc/}; fi; done`, id)
	pid, err := s.shell(script, true)
	if f := strings.Fields(pid); err != nil || len(f) != 1 {
		t.Fatalf("finding the installer's process (container %s): %v: %q", id, err, pid)
	}
	return strings.TrimSpace(pid)
}

// signalInstaller sends the installer's process a signal (kill -SIG).
func (s *suite) signalInstaller(t *testing.T, pid, sig string) {
	t.Helper()
	if out, err := s.shell("kill -"+sig+" "+pid, true); err != nil {
		t.Fatalf("kill -%s %s: %v: %s", sig, pid, err, out)
	}
}

// stopInstallerWithoutCleanup takes the installer off the node as a crash
// or a power cut would: its process is stopped before the DaemonSet is
// told to run nowhere, so it never sees the SIGTERM that would uninstall,
// and killed once its pod is being deleted.
func (s *suite) stopInstallerWithoutCleanup(t *testing.T) {
	t.Helper()
	pid := s.installerPID(t)
	s.signalInstaller(t, pid, "STOP")
	s.patchDaemonSet(t, "add")
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := s.must(t, "get", "pods", "-n", "mesh-cni", "-l", installerSelector, "-o", "jsonpath={.items[*].metadata.deletionTimestamp}")
		if strings.TrimSpace(out) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the installer pod was not deleted after its DaemonSet stopped matching the node")
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.signalInstaller(t, pid, "KILL")
	s.must(t, "wait", "--for=delete", "pod", "-n", "mesh-cni", "-l", installerSelector, "--timeout=60s")
}

// patchDaemonSet adds or removes offNodeSelector in the DaemonSet's
// template.
func (s *suite) patchDaemonSet(t *testing.T, op string) {
	t.Helper()
	patch := `[{"op": "remove", "path": "/spec/template/spec/nodeSelector/` + offNodeSelector + `"}]`
	if op == "add" {
		patch = `[{"op": "add", "path": "/spec/template/spec/nodeSelector/` + offNodeSelector + `", "value": "true"}]`
	}
	s.must(t, "patch", "daemonset", "-n", "mesh-cni", "mesh-cni", "--type", "json", "-p", patch)
}

// waitInstallerReady waits for the DaemonSet's rollout.
func (s *suite) waitInstallerReady(t *testing.T) {
	t.Helper()
	if _, err := s.kubectl("rollout", "status", "daemonset/mesh-cni", "-n", "mesh-cni", "--timeout=120s"); err != nil {
		t.Fatalf("the installer did not become ready: %v", err)
	}
}

// journalStart is the file holding the start of the plugin's journal of
// set-up pods (internal/journal) on the node.
const journalStart = "/var/run/mesh-cni/pods/since"

// waitJournalBegun waits until the plugin's journal has begun: a pod whose
// sandbox comes up before its start is never judged by it (the installer
// starts it one ADD's bound after its binary is in place).
func (s *suite) waitJournalBegun(t *testing.T) {
	t.Helper()
	since, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s.nodeFile(t, journalStart)))
	if err != nil {
		t.Fatalf("reading %s on the node: %v", journalStart, err)
	}
	// The API's times are whole seconds: one more.
	if wait := time.Until(since) + time.Second; wait > 0 {
		t.Logf("waiting %.1fs for the plugin's journal to begin", wait.Seconds())
		time.Sleep(wait)
	}
}

// checkForgotten deletes the apps' Deployments and waits until the
// plugin's journal holds no record of any of their pods: the agent forgets
// a pod once it is gone, under its pod's own privileges on the real node.
func (s *suite) checkForgotten(t *testing.T, apps ...*faultRun) {
	t.Helper()
	uids := map[string]bool{}
	for _, a := range apps {
		for uid := range a.tr.snapshot() {
			uids[uid] = true
		}
		s.must(t, "delete", "deployment", "-n", a.app.namespace, a.app.name, "--wait=true", "--timeout=90s")
		s.must(t, "wait", "--for=delete", "pod", "-n", a.app.namespace, "-l", "app="+a.app.name, "--timeout=90s")
	}
	dir := filepath.Dir(journalStart)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.shell("ls "+dir, true)
		if err != nil {
			t.Fatalf("listing %s on the node: %v: %s", dir, err, out)
		}
		var left []string
		for _, name := range strings.Fields(out) {
			if uids[name] {
				left = append(left, name)
			}
		}
		if len(left) == 0 {
			t.Logf("the journal forgot the %d pods once they were gone", len(uids))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d gone pods are still in %s: %v", len(left), len(uids), dir, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// installerRestarts is how often the installer's container has restarted.
func (s *suite) installerRestarts(t *testing.T) int {
	t.Helper()
	out := s.must(t, "get", "pods", "-n", "mesh-cni", "-l", installerSelector, "-o", "jsonpath={.items[0].status.containerStatuses[0].restartCount}")
	var n int
	if _, err := fmt.Sscan(out, &n); err != nil {
		t.Fatalf("the installer's restart count %q: %v", out, err)
	}
	return n
}

// waitInstallerRestarted waits until kubelet has restarted the installer's
// container (more restarts than before) and it is ready again.
func (s *suite) waitInstallerRestarted(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		ready := s.must(t, "get", "pods", "-n", "mesh-cni", "-l", installerSelector, "-o", "jsonpath={.items[0].status.containerStatuses[0].ready}")
		if ready == "true" && s.installerRestarts(t) > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the installer was not restarted and ready again within 120s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// agentRefusals counts the FailedCreatePodSandBox events since t0 that name
// the node agent's socket: ADDs mesh-cni failed ("try again later")
// because its agent did not answer.
func (s *suite) agentRefusals(t *testing.T, t0 time.Time) int {
	t.Helper()
	n := 0
	for _, ns := range []string{nsFault, nsApps} {
		var list struct {
			Items []struct {
				Message, Reason string
				Count           int
				LastTimestamp   time.Time `json:"lastTimestamp"`
			}
		}
		if err := json.Unmarshal([]byte(s.must(t, "get", "events", "-n", ns, "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Reason == "FailedCreatePodSandBox" && strings.Contains(e.Message, agentSocket) && !e.LastTimestamp.Before(t0.Truncate(time.Second)) {
				n += max(e.Count, 1)
			}
		}
	}
	return n
}

// primaryConf returns the path of the node's CNI config (the first
// conflist) and its contents without mesh-cni's entry, as the primary CNI
// writes it.
func (s *suite) primaryConf(t *testing.T) (path, content string) {
	t.Helper()
	files, err := s.shell("ls "+conflists, true)
	if err != nil {
		t.Fatalf("listing %s on the node: %v: %s", conflists, err, files)
	}
	path = strings.Fields(files)[0]
	var conf map[string]any
	if err := json.Unmarshal([]byte(s.nodeFile(t, path)), &conf); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	plugins, _ := conf["plugins"].([]any)
	var kept []any
	for _, p := range plugins {
		if m, _ := p.(map[string]any); m["type"] != "mesh-cni" {
			kept = append(kept, p)
		}
	}
	conf["plugins"] = kept
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return path, string(data) + "\n"
}

// writeScript is a shell command that writes content to path as a CNI
// agent does, under a name containerd does not load, renamed into place.
func writeScript(path, content string) string {
	return fmt.Sprintf("cat > %[1]s.e2e-tmp <<'MESH_CNI_E2E_EOF'\n%[2]sMESH_CNI_E2E_EOF\nmv %[1]s.e2e-tmp %[1]s", path, content)
}

// removeChainEntry rewrites the node's CNI config without mesh-cni.
func (s *suite) removeChainEntry(t *testing.T) {
	t.Helper()
	path, content := s.primaryConf(t)
	if out, err := s.shell(writeScript(path, content), true); err != nil {
		t.Fatalf("rewriting %s: %v: %s", path, err, out)
	}
}

// rewriteLoop rewrites the node's CNI config without mesh-cni every
// interval, as a primary CNI's agent that regenerates its config does,
// until the returned function is called; that returns how many writes
// there were.
func (s *suite) rewriteLoop(t *testing.T, interval time.Duration) (stop func() int) {
	t.Helper()
	path, content := s.primaryConf(t)
	src := path + ".e2e-primary"
	stopFile := path + ".e2e-stop"
	if out, err := s.shell(fmt.Sprintf("cat > %s <<'MESH_CNI_E2E_EOF'\n%sMESH_CNI_E2E_EOF\nrm -f %s", src, content, stopFile), true); err != nil {
		t.Fatalf("writing %s: %v: %s", src, err, out)
	}
	loop := fmt.Sprintf(`n=0; while [ ! -e %[3]s ]; do cp %[1]s %[2]s.e2e-tmp && mv %[2]s.e2e-tmp %[2]s; n=$((n+1)); sleep %[4]s; done; echo $n`,
		src, path, stopFile, fmt.Sprintf("%.3f", interval.Seconds()))
	cmd := s.nodeCommand(loop)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		s.shell("touch "+stopFile, true)
		err := cmd.Wait()
		s.shell("rm -f "+stopFile+" "+src, true)
		var n int
		if _, serr := fmt.Sscan(out.String(), &n); err != nil || serr != nil {
			t.Errorf("the rewrite loop: %v, output %q", err, out.String())
		}
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}

// nodeCommand is a command running cmdline with sh -c on the node, not
// yet started.
func (e *env) nodeCommand(cmdline string) *exec.Cmd {
	argv := append(append([]string{}, e.nodeShell...), "sh", "-c", cmdline)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "PATH="+e.path)
	return cmd
}
