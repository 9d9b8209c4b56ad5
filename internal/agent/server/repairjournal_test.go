package server

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// Meshed pods without validation are judged by the plugin's journal: one
// whose sandbox came up after the journal's start with no record for its
// address was set up without mesh-cni, and is repaired; every other pod
// is left alone.
func TestRepairUnrecorded(t *testing.T) {
	rc := startRepair(t, RepairDelete)
	j := &journal.Journal{RunDir: t.TempDir()}
	rc.rep.Journal = j
	since := time.Now().Add(-time.Minute).Truncate(time.Second)
	after, before := since.Add(2*time.Second), since.Add(-2*time.Second)
	record := func(uid, ip string) {
		if err := j.Record(uid, "sandbox-1", []netip.Addr{netip.MustParseAddr(ip)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		pod testPod
		// recordIP, when set, is the address the plugin recorded.
		recordIP string
		want     string
	}{
		{testPod{name: "unrecorded", owned: true, sandbox: after, ip: "10.1.0.2"}, "", "deleted"},
		{testPod{name: "unrecorded-bare", sandbox: after, ip: "10.1.0.3"}, "", "labelled"},
		{testPod{name: "recorded", owned: true, sandbox: after, ip: "10.1.0.4"}, "10.1.0.4", "untouched"},
		// Its sandbox was made again without mesh-cni: another address.
		{testPod{name: "recorded-other-sandbox", owned: true, sandbox: after, ip: "10.1.0.5"}, "10.1.0.99", "deleted"},
		{testPod{name: "set-up-before-since", owned: true, sandbox: before, ip: "10.1.0.6"}, "", "untouched"},
		{testPod{name: "sandbox-not-ready", owned: true, ip: "10.1.0.7"}, "", "untouched"},
		{testPod{name: "no-ip-yet", owned: true, sandbox: after}, "", "untouched"},
		{testPod{name: "unmeshed", owned: true, unmeshed: true, sandbox: after, ip: "10.1.0.8"}, "", "untouched"},
		{testPod{name: "excluded", namespace: "excluded", owned: true, sandbox: after, ip: "10.1.0.9"}, "", "untouched"},
		// Its validation decides: it passed.
		{testPod{name: "validated", owned: true, validated: true, sandbox: after, ip: "10.1.0.10"}, "", "untouched"},
	}
	for _, tt := range tests {
		rc.create(t, tt.pod)
	}
	uids := rc.uids(t)
	for _, tt := range tests {
		if tt.recordIP != "" {
			record(uids[tt.pod.name], tt.recordIP)
		}
	}

	// Before the journal's start is known, nothing is judged by it.
	if n := rc.once(t); n != 0 {
		t.Fatalf("repaired %d pods with a journal that has not begun", n)
	}
	if err := j.Begin(since); err != nil {
		t.Fatal(err)
	}
	if n := rc.once(t); n != 3 {
		t.Errorf("repaired %d pods, want 3", n)
	}
	for _, tt := range tests {
		ns := tt.pod.namespace
		if ns == "" {
			ns = "apps"
		}
		if got := rc.state(t, ns, tt.pod.name); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.pod.name, got, tt.want)
		}
	}
	if got := rc.events(t, "apps", "unrecorded"); got != "Warning "+ReasonDeleted {
		t.Errorf("events on the unrecorded pod: %q", got)
	}
}

// uids maps the names of the pods on repairNode to their UIDs.
func (rc *repairCluster) uids(t *testing.T) map[string]string {
	t.Helper()
	var list struct{ Items []repairPod }
	if err := rc.admin.Get(context.Background(), "/api/v1/pods?fieldSelector=spec.nodeName%3D"+repairNode, &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range list.Items {
		m[p.Metadata.Name] = p.Metadata.UID
	}
	return m
}

// The agent's own watch hands Run a pod that needs repair at once, well
// before the next pass; a pod the watch sees deleted loses its records.
func TestRepairFromWatch(t *testing.T) {
	rc := startRepair(t, RepairDelete)
	j := &journal.Journal{RunDir: t.TempDir()}
	rc.rep.Journal = j
	ctx, cancel := context.WithCancel(context.Background())
	store := NewStore(rc.api, repairNode, testLogger(t))
	store.ObservePods(rc.rep.Observe)
	done := make(chan struct{}, 2)
	go func() { store.Run(ctx); done <- struct{}{} }()
	go func() { rc.rep.Run(ctx, time.Hour); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	waitFor(t, "the pod watch", store.Synced)
	// Past the pass at readiness: only the watch can bring the pod now.
	time.Sleep(2 * readyPoll)

	rc.create(t, testPod{name: "kept", owned: true})
	uid := rc.uids(t)["kept"]
	if err := j.Record(uid, "sandbox-1", []netip.Addr{netip.MustParseAddr("10.1.0.2")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rc.create(t, failed("failed"))
	waitFor(t, "the failed pod's deletion", func() bool { return rc.state(t, "apps", "failed") == "deleted" })
	t.Logf("deleted %s after its status showed validation exit %d", time.Since(start).Round(time.Millisecond), validate.NotRedirectedExitCode)

	if err := rc.admin.Delete(context.Background(), "/api/v1/namespaces/apps/pods/kept", map[string]any{"gracePeriodSeconds": 0}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pod's records going", func() bool {
		has, err := j.Has(uid, []netip.Addr{netip.MustParseAddr("10.1.0.2")})
		return err == nil && !has
	})
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
