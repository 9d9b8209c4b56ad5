//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// testScope: pods mesh-cni must leave alone start normally and get no rules
// (their outbound traffic reaches the peer's app, where a redirect would have
// hit a sidecar port) and no RedirectionConfigured event.
func (s *suite) testScope(t *testing.T) {
	a := s.ip[s.plainA.Name]
	for _, tc := range []struct {
		name string
		p    pod
	}{
		// OSM's own init container installs the rules itself (here: a stand-in
		// that installs none, so any rule seen would be mesh-cni's).
		{"pod with osm-init is left to it", pod{Name: "mesh-osm-init", Namespace: nsApps, Sidecar: "envoy", OSMInit: true}},
		{"pod without sidecar", s.plainB},
		{"meshed pod in kube-system", pod{Name: "e2e-kube-system", Namespace: "kube-system", Sidecar: "envoy"}},
		{"pod annotated sidecar-injection disabled", pod{Name: "mesh-injection-disabled", Namespace: nsApps, Sidecar: "envoy",
			Annotations: map[string]string{"openservicemesh.io/sidecar-injection": "disabled"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // independent pods: start them at once
			if tc.p.Name != s.plainB.Name {
				s.start(t, tc.p)
				defer s.discard(t, tc.p.Namespace, tc.p.Name)
			}
			s.expectLanding(t, tc.p, "app", a+":8080", landing{"app", "8080", s.plainA.Name})
			if evs := s.events(t, tc.p, "RedirectionConfigured"); len(evs) != 0 {
				t.Errorf("RedirectionConfigured event on a pod out of scope: %+v", evs)
			}
		})
	}
}

// testBadAnnotation: an invalid annotation keeps the pod in ContainerCreating
// with a FailedCreatePodSandBox event naming the annotation and the value;
// the pod recreated with a valid one starts with its rules.
func (s *suite) testBadAnnotation(t *testing.T) {
	bad := pod{Name: "mesh-bad-annotation", Namespace: nsApps, Sidecar: "envoy",
		Annotations: map[string]string{portAnnotation: "8080,70000"}}
	s.create(t, bad.manifest())
	ev := s.waitEvent(t, bad, "FailedCreatePodSandBox", 90*time.Second)
	for _, want := range []string{portAnnotation, `"70000"`} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("FailedCreatePodSandBox message does not name %s: %q", want, ev.Message)
		}
	}
	t.Logf("FailedCreatePodSandBox: %s", ev.Message)
	own := s.waitEvent(t, bad, "RedirectionFailed", 30*time.Second)
	if own.Type != "Warning" || !strings.Contains(own.Message, `invalid port "70000" in annotation `+portAnnotation) {
		t.Errorf("RedirectionFailed event: %+v", own)
	}
	// Still not started, a few sandbox retries later.
	time.Sleep(3 * time.Second)
	var st struct {
		Status struct {
			Phase             string
			ContainerStatuses []struct {
				State struct{ Waiting *struct{ Reason string } }
			}
		}
	}
	if err := json.Unmarshal([]byte(s.must(t, "get", "pod", "-n", bad.Namespace, bad.Name, "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.ContainerStatuses {
		if c.State.Waiting == nil || c.State.Waiting.Reason != "ContainerCreating" {
			t.Errorf("container of the badly annotated pod is not waiting in ContainerCreating: %+v", c.State)
		}
	}
	if st.Status.Phase != "Pending" {
		t.Errorf("badly annotated pod is %s, want Pending", st.Status.Phase)
	}
	if out := s.must(t, "get", "pod", "-n", bad.Namespace, bad.Name); !strings.Contains(out, "ContainerCreating") {
		t.Errorf("kubectl get pod does not show ContainerCreating:\n%s", out)
	}

	s.remove(t, bad.Namespace, bad.Name)
	fixed := bad
	fixed.Annotations = map[string]string{portAnnotation: "8080"}
	s.start(t, fixed)
	defer s.discard(t, fixed.Namespace, fixed.Name)
	a := s.ip[s.plainA.Name]
	s.expectLanding(t, fixed, "app", a+":8080", landing{"app", "8080", s.plainA.Name})
	s.expectLanding(t, fixed, "app", a+":9090", landing{"sidecar-outbound", a + ":9090", fixed.Name})
}

// testDescribe: `kubectl describe pod` shows mesh-cni's RedirectionConfigured
// event, whose message carries the osm-init command line that `mesh-cni
// render` prints for the same settings.
func (s *suite) testDescribe(t *testing.T) {
	render := strings.TrimSpace(s.must(t, "exec", "-n", "mesh-cni", "daemonset/mesh-cni", "--", "/mesh-cni", "render"))
	if !strings.HasPrefix(render, "iptables -t nat -N PROXY_INBOUND && ") {
		t.Fatalf("mesh-cni render printed %q", render)
	}
	desc := s.must(t, "describe", "pod", "-n", s.meshClient.Namespace, s.meshClient.Name)
	lines := strings.Split(desc, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 4 && f[0] == "Normal" && f[1] == "RedirectionConfigured" {
			if f[3] != "mesh-cni" {
				t.Errorf("event source is %q, want mesh-cni: %q", f[3], l)
			}
			if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != render {
				t.Errorf("the line after the event is not the osm-init command line:\n%s", strings.Join(lines[i:min(i+2, len(lines))], "\n"))
			}
			t.Logf("kubectl describe: %s", l)
			return
		}
	}
	t.Errorf("kubectl describe pod %s shows no RedirectionConfigured event:\n%s", s.meshClient.Name, desc)
}
