//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/osmhost"
)

// testFaults: mesh-cni is out of the node's CNI chain, or its agent is
// gone, while meshed pods are created; no pod whose validation container
// comes first ever runs its app without rules (its app's own start check
// says so), and the node agent repairs every pod set up without mesh-cni.
// Each fault logs one line of counts per app.
func (s *suite) testFaults(t *testing.T) {
	start := time.Now()
	s.waitWebhook(t)
	// The script OSM v1.2.4's osm-init runs with the default settings,
	// which the pods carry as OSM's injector would give it them.
	s.osmScript = strings.TrimSpace(s.must(t, "exec", "-n", "mesh-cni", "daemonset/mesh-cni", "--", "/mesh-cni", "render", "--profile", "osm-v1"))
	s.apply(t, osmhost.MeshNamespace(nsFault))
	t.Cleanup(func() {
		s.kubectl("delete", "namespace", nsFault, "--wait=true", "--timeout=120s")
		s.shell("rm -rf "+faultReportRoot, true)
	})
	for _, f := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"reboot-like", s.faultRebootLike},
		{"primary CNI rewrites its config", s.faultRewriteLoop},
		{"DaemonSet rolled, deleted and re-applied", s.faultDaemonSet},
		{"agent killed during a burst", s.faultAgentKilled},
	} {
		t0 := time.Now()
		t.Run(f.name, f.run)
		t.Logf("%s: %.1fs", f.name, time.Since(t0).Seconds())
	}
	t.Logf("fault tests ran in %.1fs", time.Since(start).Seconds())
}

// faultRebootLike: the installer dies without cleaning up and the
// primary CNI's config comes back without mesh-cni's entry, as after a
// node's reboot before the DaemonSet's pod runs; 20 validated pods fail
// their validation, 10 without validation run unredirected; once mesh-cni
// is back, the node agent replaces all 30.
func (s *suite) faultRebootLike(t *testing.T) {
	s.waitJournalBegun(t)
	s.stopInstallerWithoutCleanup(t)
	off := true
	t.Cleanup(func() {
		if off {
			s.patchDaemonSet(t, "remove")
			s.waitInstallerReady(t)
		}
	})
	s.removeChainEntry(t)
	v := s.startFaultApp(t, faultApp{name: "reboot", namespace: nsFault, validated: true}, 20)
	u := s.startFaultApp(t, faultApp{name: "reboot-unvalidated", namespace: nsApps}, 10)
	v.tr.waitFor(t, "every pod's validation failing", 120*time.Second, func(pods map[string]trackedPod) bool {
		return countPods(pods, func(p trackedPod) bool { return p.failedValidation }) == 20
	})
	u.waitVerdicts(t, 10, 120*time.Second)
	back := time.Now()
	s.patchDaemonSet(t, "remove")
	off = false
	s.waitInstallerReady(t)
	t.Logf("mesh-cni ready again %.1fs after its DaemonSet matched the node", time.Since(back).Seconds())
	dv := v.waitAllRedirected(t, 20, back, 120*time.Second)
	du := u.waitAllRedirected(t, 10, back, 120*time.Second)
	cv, cu := v.report(t, "reboot-like", dv), u.report(t, "reboot-like", du)
	if cv.failedValidation < 20 || cv.repaired < 20 {
		t.Errorf("validated pods: %d failed validation and %d were repaired, want 20 each at least", cv.failedValidation, cv.repaired)
	}
	// The start check is what says "ran without rules": here it must have
	// seen the 10 pods that had no validation to stop them.
	if cu.withoutRules != 10 || cu.repaired < 10 {
		t.Errorf("pods without validation: %d ran without rules and %d were repaired, want 10 each", cu.withoutRules, cu.repaired)
	}
	s.checkInstalled(t, true)
}

// faultRewriteLoop: the primary CNI's agent rewrites its config without
// mesh-cni's entry every 100 ms while 50 validated pods are created; the
// installer puts the entry back each time, and pods set up in a gap are
// repaired once the loop ends.
func (s *suite) faultRewriteLoop(t *testing.T) {
	const pods = 50
	stop := s.rewriteLoop(t, 100*time.Millisecond)
	loopStart := time.Now()
	r := s.startFaultApp(t, faultApp{name: "rewrite", namespace: nsFault, validated: true}, pods)
	r.tr.waitFor(t, "a sandbox for each pod", 180*time.Second, func(p map[string]trackedPod) bool {
		return countPods(p, func(p trackedPod) bool { return p.addressed }) >= pods
	})
	writes, end := stop(), time.Now()
	t.Logf("the primary CNI's config was rewritten %d times in %.1fs", writes, end.Sub(loopStart).Seconds())
	d := r.waitAllRedirected(t, pods, end, 180*time.Second)
	r.report(t, "primary CNI rewrite loop", d)
	s.checkInstalled(t, true)
}

// faultDaemonSet: pods are created while the DaemonSet is deleted and
// applied again, rolled without skip-cleanup (the old installer removes
// the entry), and rolled with it (the entry stays; pods wait for the new
// agent).
func (s *suite) faultDaemonSet(t *testing.T) {
	const perPhase = 8
	for _, ph := range []struct {
		name, app string
		do        func(t *testing.T)
	}{
		{"deleted and re-applied", "roll-reapply", func(t *testing.T) {
			s.must(t, "delete", "daemonset", "mesh-cni", "-n", "mesh-cni", "--wait=true", "--timeout=90s")
			s.must(t, "wait", "--for=delete", "pod", "-n", "mesh-cni", "-l", installerSelector, "--timeout=90s")
			s.deploy(t)
		}},
		// The env var rolls the DaemonSet; the old pods lack it.
		{"rolled without skip-cleanup", "roll-cleanup", func(t *testing.T) { s.setEnvRoll(t, "MESH_CNI_SKIP_CLEANUP=true") }},
		{"rolled with skip-cleanup", "roll-skip", func(t *testing.T) {
			s.must(t, "rollout", "restart", "daemonset/mesh-cni", "-n", "mesh-cni")
			s.waitInstallerReady(t)
		}},
	} {
		r := s.startFaultApp(t, faultApp{name: ph.app, namespace: nsFault, validated: true}, 0)
		ramped := r.ramp(perPhase, 300*time.Millisecond)
		ph.do(t)
		if err := <-ramped; err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		d := r.waitAllRedirected(t, perPhase, end, 120*time.Second)
		r.report(t, "DaemonSet "+ph.name, d)
	}
	// Back to deploy/'s settings (a roll with skip-cleanup once more).
	s.setEnvRoll(t, "MESH_CNI_SKIP_CLEANUP-")
	s.checkInstalled(t, true)
}

// setEnvRoll changes the installer's environment, which rolls the
// DaemonSet, and waits for the rollout.
func (s *suite) setEnvRoll(t *testing.T, env string) {
	t.Helper()
	s.must(t, "set", "env", "daemonset/mesh-cni", "-n", "mesh-cni", env)
	s.waitInstallerReady(t)
}

// faultAgentKilled: the installer, the node agent, is killed while 50
// meshed pods are being set up (half validated, half not); the entry
// stays, so ADDs fail "try again later" until kubelet has restarted it,
// and no pod is set up without rules: nothing is repaired, and the agent
// restarted without memory deletes none of those set up before.
func (s *suite) faultAgentKilled(t *testing.T) {
	pid := s.installerPID(t)
	before := s.installerRestarts(t)
	v := s.startFaultApp(t, faultApp{name: "agent-kill", namespace: nsFault, validated: true}, 25)
	u := s.startFaultApp(t, faultApp{name: "agent-kill-unvalidated", namespace: nsApps}, 25)
	// Killed as the burst begins: its pods are created, and their ADDs
	// come while kubelet restarts the agent. Waiting for a first ADD to be
	// seen raced kubelet on this node, whose ADDs could all be done before
	// the API showed any pod's address.
	s.signalInstaller(t, pid, "KILL")
	killed := time.Now()
	s.waitInstallerRestarted(t, before)
	t.Logf("the installer was killed; restarted and ready %.1fs later", time.Since(killed).Seconds())
	dv := v.waitAllRedirected(t, 25, killed, 180*time.Second)
	du := u.waitAllRedirected(t, 25, killed, 180*time.Second)
	for _, c := range []faultCounts{v.report(t, "agent killed", dv), u.report(t, "agent killed", du)} {
		if c.repaired != 0 || c.withoutRules != 0 {
			t.Errorf("%d pods repaired, %d ran without rules: want none, mesh-cni's entry stayed in the chain", c.repaired, c.withoutRules)
		}
	}
	refused := s.agentRefusals(t, killed)
	t.Logf("sandboxes refused while the agent was down (FailedCreatePodSandBox naming its socket): %d", refused)
	if refused == 0 {
		t.Errorf("no ADD met the dead agent: the kill missed the burst")
	}
	s.checkForgotten(t, v, u)
	s.checkInstalled(t, true)
}

// countPods counts the pods for which is holds.
func countPods(pods map[string]trackedPod, is func(trackedPod) bool) int {
	n := 0
	for _, p := range pods {
		if is(p) {
			n++
		}
	}
	return n
}
