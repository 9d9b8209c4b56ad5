package install

import (
	"strings"
	"testing"
	"time"
)

func TestFightDetector(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fightDetector{threshold: 2, window: time.Minute, now: func() time.Time { return now }}
	steps := []struct {
		advance time.Duration
		warn    bool
	}{
		{0, false},                // 1 in the window
		{10 * time.Second, false}, // 2
		{10 * time.Second, true},  // 3 > threshold: warn
		{10 * time.Second, false}, // 4, but warned less than a window ago
		{50 * time.Second, false}, // the first three fell out of the window: 2 left
		{5 * time.Second, true},   // 3 again, a window after the last warning
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := f.record(); got != s.warn {
			t.Errorf("step %d: record() = %v, want %v (%d in window)", i, got, s.warn, f.count())
		}
	}
}

func TestCulprit(t *testing.T) {
	tests := []struct {
		path, network string
		types         []string
		want          string
	}{
		{"/n/10-calico.conflist", "k8s-pod-network", []string{"calico", "portmap", "mesh-cni"}, "calico-node"},
		{"/n/05-cilium.conflist", "cilium", []string{"cilium-cni", "mesh-cni"}, "cni.exclusive"},
		{"/n/10-calico.conflist", "k8s-pod-network", []string{"calico", "istio-cni", "mesh-cni"}, "Istio"},
		{"/n/10-kindnet.conflist", "kindnet", []string{"ptp", "portmap", "mesh-cni"}, "kindnetd"},
		{"/n/10-aws.conflist", "aws-cni", []string{"aws-cni", "egress-cni", "portmap", "mesh-cni"}, "aws-node"},
		{"/n/00-multus.conflist", "multus-cni-network", []string{"multus", "mesh-cni"}, "multus"},
		{"/n/20-x.conflist", "x", []string{"macvlan", "mesh-cni"}, `the agent that writes 20-x.conflist (network "x", plugins macvlan,mesh-cni)`},
	}
	for _, tc := range tests {
		if got := culprit(tc.path, tc.network, tc.types); !strings.Contains(got, tc.want) {
			t.Errorf("culprit(%s) = %q, want it to mention %q", tc.path, got, tc.want)
		}
	}
}
