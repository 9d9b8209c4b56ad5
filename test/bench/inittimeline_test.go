package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// testdata/containerd.log holds the lines of two pods from a run of this
// benchmark: osminit-r0-00 (osm-init) and meshcni-r0-03 (mesh-cni's
// validation container), with mesh-cni's own log line among them.
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
			tl, err := readInitTimeline("testdata/containerd.log", []string{tc.pod}, tc.init)
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

func TestReadInitTimelineNoLog(t *testing.T) {
	if _, err := readInitTimeline("testdata/absent.log", []string{"x"}, "y"); err == nil || !strings.Contains(err.Error(), "absent.log") {
		t.Fatalf("got %v, want an error naming the file", err)
	}
}
