package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// testdata/containerd.log holds the lines of two pods from a run of this
// benchmark: osminit-r0-00 (osm-init) and meshcni-r0-03 (mesh-cni's
// validation container), among lines of other kinds (the stops and
// removals of the containers, mesh-cni's own log line).
func TestReadInitTimeline(t *testing.T) {
	for _, tc := range []struct {
		pod, init        string
		start, run, wait time.Duration
		err              string
	}{
		{pod: "osminit-r0-00", init: "osm-init", start: 158208017, run: 117289806, wait: 236203059},
		{pod: "meshcni-r0-03", init: validate.ContainerName, start: 294125189, run: 142095531, wait: 94810579},
		// The other pod's init container is not this one's.
		{pod: "meshcni-r0-03", init: "osm-init", err: "no complete timeline of an init container osm-init in the 1 pods meshcni-r0-03"},
		{pod: "plain-r0-00", init: "osm-init", err: "no complete timeline"},
		// A name is a pod's whole name, not a prefix.
		{pod: "meshcni-r0-0", init: validate.ContainerName, err: "no complete timeline"},
	} {
		t.Run(tc.pod+"/"+tc.init, func(t *testing.T) {
			events, err := readPodEvents("testdata/containerd.log", []string{tc.pod})
			if err != nil {
				t.Fatal(err)
			}
			tl, err := initTimelineOf(events, []string{tc.pod}, tc.init)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct {
				name string
				got  []time.Duration
				want time.Duration
			}{{"start", tl.start.d, tc.start}, {"run", tl.run.d, tc.run}, {"wait", tl.wait.d, tc.wait}} {
				if len(s.got) != 1 || s.got[0] != s.want {
					t.Errorf("%s: got %v, want [%v]", s.name, s.got, s.want)
				}
			}
		})
	}
}

func TestReadPodEventsNoLog(t *testing.T) {
	if _, err := readPodEvents("testdata/absent.log", []string{"x"}); err == nil || !strings.Contains(err.Error(), "absent.log") {
		t.Fatalf("got %v, want an error naming the file", err)
	}
}

// A container made again (Attempt:1) does not mix its times into the
// first attempt's.
func TestScanPodEventsFirstAttempt(t *testing.T) {
	const sb, c0, c1 = "aaaa", "c000", "c111"
	log := strings.Join([]string{
		`time="2026-12-02T10:00:00.000Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:p-r0-00,Uid:u,Namespace:n,Attempt:0,} returns sandbox id \"` + sb + `\""`,
		`time="2026-12-02T10:00:01.000Z" level=info msg="CreateContainer within sandbox \"` + sb + `\" for container &ContainerMetadata{Name:v,Attempt:0,}"`,
		`time="2026-12-02T10:00:01.100Z" level=info msg="CreateContainer within sandbox \"` + sb + `\" for &ContainerMetadata{Name:v,Attempt:0,} returns container id \"` + c0 + `\""`,
		`time="2026-12-02T10:00:01.200Z" level=info msg="StartContainer for \"` + c0 + `\" returns successfully"`,
		`time="2026-12-02T10:00:01.300Z" level=info msg="shim disconnected" id=` + c0,
		`time="2026-12-02T10:00:05.000Z" level=info msg="CreateContainer within sandbox \"` + sb + `\" for container &ContainerMetadata{Name:v,Attempt:1,}"`,
		`time="2026-12-02T10:00:05.100Z" level=info msg="CreateContainer within sandbox \"` + sb + `\" for &ContainerMetadata{Name:v,Attempt:1,} returns container id \"` + c1 + `\""`,
		`time="2026-12-02T10:00:05.200Z" level=info msg="StartContainer for \"` + c1 + `\" returns successfully"`,
		`time="2026-12-02T10:00:05.300Z" level=info msg="shim disconnected" id=` + c1,
		`time="2026-12-02T10:00:06.000Z" level=info msg="CreateContainer within sandbox \"` + sb + `\" for container &ContainerMetadata{Name:app,Attempt:0,}"`,
	}, "\n")
	pods, err := scanPodEvents(strings.NewReader(log), []string{"p-r0-00"})
	if err != nil {
		t.Fatal(err)
	}
	p := pods[sb]
	if p == nil {
		t.Fatalf("no events for sandbox %s: %v", sb, pods)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, "2026-12-02T10:00:"+s+"Z"); return v }
	for _, c := range []struct {
		what      string
		got, want time.Time
	}{{"creating", p.creating["v"], at("01.000")}, {"started", p.started["v"], at("01.200")},
		{"exited", p.exited["v"], at("01.300")}, {"first other", p.firstOther("v"), at("06.000")}} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s: got %s, want %s", c.what, c.got, c.want)
		}
	}
}

// One read of the log serves both contenders: each timeline holds only its
// own pods.
func TestInitTimelineOfOneRead(t *testing.T) {
	both := []string{"osminit-r0-00", "meshcni-r0-03"}
	events, err := readPodEvents("testdata/containerd.log", both)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("got events of %d sandboxes, want 2", len(events))
	}
	for _, tc := range []struct {
		pod, init string
		wait      time.Duration
	}{{"osminit-r0-00", "osm-init", 236203059}, {"meshcni-r0-03", validate.ContainerName, 94810579}} {
		tl, err := initTimelineOf(events, both, tc.init)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl.wait.d) != 1 || tl.wait.d[0] != tc.wait {
			t.Errorf("%s: got waits %v, want [%v]", tc.init, tl.wait.d, tc.wait)
		}
	}
}
