//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Where the fault tests' apps leave their start check's verdict on the
// node (meshapp's MESHAPP_REPORT_DIR, a hostPath): one file per pod, which
// outlives a pod that repair deleted.
const faultReportRoot = "/tmp/mesh-cni-e2e-reports"

// Namespaces of the fault tests: one OSM monitors (mesh-cni's webhook
// records its pods and adds the validation container), and nsApps for
// meshed pods without a record, whose rules the plugin computes at ADD.
const nsFault = "e2e-faults"

// faultApp is a Deployment of meshed pods a fault test creates.
type faultApp struct {
	name, namespace string
	replicas        int
	// validated: the pods come as OSM's injector makes them, osm-init
	// with OSM v1.2.4's script, into nsFault, so that mesh-cni's webhook
	// takes osm-init out, records its script and puts the validation
	// container first. Otherwise they are meshed pods with no record and
	// no validation, in nsApps.
	validated bool
}

// faultRun is one faultApp created: its pods followed, its verdicts read.
type faultRun struct {
	s   *suite
	app faultApp
	tr  *podTracker
}

// manifest renders the Deployment. Its app dials plain-a's 8080 before it
// serves: redirected, the sidecar answers; without rules, plain-a does.
// No readiness probes: fifty pods' exec probes each second would load the
// node more than the fault does.
func (r *faultRun) manifest(replicas int) string {
	a := r.app
	var init string
	if a.validated {
		init = fmt.Sprintf("      initContainers:\n      - name: osm-init\n        image: %s\n        imagePullPolicy: Never\n"+
			"        command: [\"/bin/sh\"]\n        args: [\"-c\", %q]\n", appImage, r.s.osmScript)
	}
	probe := r.s.ip[r.s.plainA.Name] + ":8080"
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s, osm-proxy-uuid: 6f1c2f0e-0000-4000-8000-00000000fa17}
    spec:
      terminationGracePeriodSeconds: 1
      enableServiceLinks: false
%[4]s      containers:
      - name: app
        image: %[5]s
        imagePullPolicy: Never
        command: ["/meshapp", "serve", "8080", "9090"]
        env: [{name: MESHAPP_START_PROBE, value: %[6]q}, {name: MESHAPP_REPORT_DIR, value: /report}]
        volumeMounts: [{name: report, mountPath: /report}]
      - name: envoy
        image: %[5]s
        imagePullPolicy: Never
        command: ["/meshapp", "sidecar"]
        securityContext: {runAsUser: 1500, runAsGroup: 1500}
      volumes: [{name: report, hostPath: {path: %[7]s, type: DirectoryOrCreate}}]
`, a.name, a.namespace, replicas, init, appImage, probe, r.reportDir())
}

func (r *faultRun) reportDir() string { return faultReportRoot + "/" + r.app.name }

// startFaultApp follows the app's pods and creates its Deployment with
// replicas pods (0 for a test that scales it itself); the Deployment and
// its verdicts go when the test ends.
func (s *suite) startFaultApp(t *testing.T, a faultApp, replicas int) *faultRun {
	t.Helper()
	r := &faultRun{s: s, app: a, tr: s.trackPods(t, a.namespace, "app="+a.name)}
	t.Cleanup(func() {
		s.kubectl("delete", "deployment", "-n", a.namespace, a.name, "--wait=false")
		s.shell("rm -rf "+r.reportDir(), true)
	})
	s.create(t, r.manifest(replicas))
	return r
}

// verdicts reads the start checks' verdicts on the node, by pod name:
// "redirected", "direct" or "unknown".
func (r *faultRun) verdicts(t *testing.T) map[string]string {
	t.Helper()
	out, err := r.s.shell(`cd `+r.reportDir()+` 2>/dev/null || exit 0; for f in *; do [ -f "$f" ] && printf '%s %s\n' "$f" "$(cat "$f")"; done; true`, true)
	if err != nil {
		t.Fatalf("reading the start checks' verdicts in %s on the node: %v: %s", r.reportDir(), err, out)
	}
	v := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			v[f[0]] = f[1]
		}
	}
	return v
}

// live returns the names of the pods not deleted.
func live(pods map[string]trackedPod) []string {
	var names []string
	for _, p := range pods {
		if !p.gone {
			names = append(names, p.name)
		}
	}
	return names
}

// waitAllRedirected waits until the Deployment has replicas live pods, each
// of whose apps found its dial redirected, and returns how long after
// start (the fault's end) that was.
func (r *faultRun) waitAllRedirected(t *testing.T, replicas int, start time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		names, v := live(r.tr.snapshot()), r.verdicts(t)
		ok := len(names) == replicas
		for _, n := range names {
			ok = ok && v[n] == "redirected"
		}
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			r.diagnose(t)
			t.Fatalf("%s: not all %d pods ran with rules within %s: %d live, verdicts %v", r.app.name, replicas, timeout, len(names), v)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// diagnose logs what says why an app's pods were not repaired: the pods,
// one pod's status, the agent's log and the plugin's journal.
func (r *faultRun) diagnose(t *testing.T) {
	t.Helper()
	pods, _ := r.s.kubectl("get", "pods", "-n", r.app.namespace, "-l", "app="+r.app.name, "-o", "wide")
	one, _ := r.s.kubectl("get", "pods", "-n", r.app.namespace, "-l", "app="+r.app.name, "-o", "jsonpath={.items[0].metadata.uid} {.items[0].status.conditions} {.items[0].status.podIPs}")
	logs, _ := r.s.kubectl("logs", "-n", "mesh-cni", "daemonset/mesh-cni", "--tail=60")
	journal, _ := r.s.shell("cat /var/run/mesh-cni/pods/since; ls /var/run/mesh-cni/pods | wc -l", true)
	t.Logf("%s:\n%s\none pod: %s\njournal: %s\ninstaller log:\n%s", r.app.name, pods, one, journal, logs)
}

// waitVerdicts waits until n of the app's pods have run their start check.
func (r *faultRun) waitVerdicts(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(r.verdicts(t)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d pods ran their start check within %s", r.app.name, len(r.verdicts(t)), n, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ramp scales the Deployment up one pod at a time, gap apart, to n, and
// sends on the channel when done: pods are created while the caller works.
func (r *faultRun) ramp(n int, gap time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := r.s.kubectl("scale", "-n", r.app.namespace, "deployment/"+r.app.name, fmt.Sprintf("--replicas=%d", i)); err != nil {
				done <- err
				return
			}
			time.Sleep(gap)
		}
		done <- nil
	}()
	return done
}

// repairedUIDs are the UIDs of the pods the node agent repaired, from its
// events, which outlive the pods.
func (r *faultRun) repairedUIDs(t *testing.T) map[string]bool {
	t.Helper()
	var list struct {
		Items []struct {
			Reason         string
			InvolvedObject struct{ UID string } `json:"involvedObject"`
		}
	}
	out := r.s.must(t, "get", "events", "-n", r.app.namespace, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("parsing events: %v", err)
	}
	uids := map[string]bool{}
	for _, e := range list.Items {
		if e.Reason == "MeshRulesMissingDeleted" || e.Reason == "MeshRulesMissingLabelled" {
			uids[e.InvolvedObject.UID] = true
		}
	}
	return uids
}

// faultCounts are what a fault test reports of one app.
type faultCounts struct {
	created, failedValidation, withoutRules, repaired int
}

// counts tallies the app's pods. A pod "ran without rules" when its app's
// own start check said its dial was not redirected. It fails the test when
// a pod was repaired that had its rules: one whose validation passed, or
// whose app found its dial redirected.
func (r *faultRun) counts(t *testing.T) faultCounts {
	t.Helper()
	pods, v, repaired := r.tr.snapshot(), r.verdicts(t), r.repairedUIDs(t)
	var c faultCounts
	for uid, p := range pods {
		c.created++
		if p.failedValidation {
			c.failedValidation++
		}
		if verdict, ran := v[p.name]; ran && verdict != "redirected" {
			c.withoutRules++
		}
		if !repaired[uid] {
			continue
		}
		c.repaired++
		if p.passedValidation || v[p.name] == "redirected" {
			t.Errorf("%s: pod %s was repaired though it had its rules (validation passed: %v, start check: %q)", r.app.name, p.name, p.passedValidation, v[p.name])
		}
	}
	return c
}

// report logs the app's counts in one line and, for a validated app,
// requires that no app ever ran without its rules.
func (r *faultRun) report(t *testing.T, fault string, repairTime time.Duration) faultCounts {
	t.Helper()
	c := r.counts(t)
	kind := "with validation"
	if !r.app.validated {
		kind = "without validation (repair by the plugin's set-up records)"
	}
	t.Logf("fault %s: %s/%s, %s: pods created %d, ran without rules %d, failed validation %d, repaired %d, time to repair %.1fs",
		fault, r.app.namespace, r.app.name, kind, c.created, c.withoutRules, c.failedValidation, c.repaired, repairTime.Seconds())
	if r.app.validated && c.withoutRules != 0 {
		t.Errorf("%s: %d pods ran their app without rules although their validation container comes first", r.app.name, c.withoutRules)
	}
	return c
}
