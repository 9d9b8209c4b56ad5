package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// The storm: stormPods pod names, two netns paths (slots) each, until
// mesh-cni has run stormBudget ADDs and as many DELs.
const (
	stormPods   = 10
	stormSlots  = 2 * stormPods
	stormBudget = 200
)

// TestAddDelStorm runs ADDs and DELs of the real chain (bridge, host-local,
// mesh-cni) through libcni on 20 netns paths at once, two for each of 10
// meshed pods, as kubelet's retries come: a sandbox is added, sometimes
// reaches mesh-cni's ADD a second time, is DELeted (sometimes twice), its
// netns goes (sometimes before its last DEL, which then finds it gone) and
// the next sandbox of the same pod is made at the same path; until
// mesh-cni has run 200 ADDs and 200 DELs. Then every operation must have
// succeeded and mesh-cni logged no error; no lock file and nothing in the
// run dir but the agent's socket and the netlink record may be left; and
// each netns still there must hold exactly its own pod's rules (each pod
// excludes a port of its own), as iptables-save lists them, the same as
// after one ADD of that pod alone.
func TestAddDelStorm(t *testing.T) {
	e := newEnv(t, "10.233.0.0/24")
	pods, refs := stormReferences(t, e)
	e.net.Recorder.Take() // the references' calls
	st := &storm{net: e.net, pods: pods}
	start := time.Now()
	survivors, err := st.run()
	took := time.Since(start)
	t.Cleanup(func() {
		for _, s := range survivors {
			if s == nil {
				continue
			}
			if err := s.Close(); err != nil {
				t.Errorf("closing a survivor: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatalf("storm: %v", err)
	}
	adds, dels := st.meshCalls(t)
	t.Logf("storm: %d ADDs and %d DELs of mesh-cni (%d of them DELs of a netns already gone) on %d netns paths in %v",
		adds, dels, st.gone, stormSlots, took.Round(time.Millisecond))
	if adds < stormBudget || dels < stormBudget || st.gone == 0 {
		t.Errorf("storm ran %d ADDs, %d DELs, %d of a netns gone; want %d each and some gone", adds, dels, st.gone, stormBudget)
	}
	noLeftovers(t, filepath.Dir(e.agent.Socket), pods)
	left := 0
	for i, s := range survivors {
		if s == nil {
			continue
		}
		left++
		want := refs[i%stormPods]
		if got := podcheck.NATLines((&sandbox{Sandbox: s, e: e}).natTables(t)); !slices.Equal(got, want) {
			t.Errorf("netns %s of pod %s holds\n%s\nwant\n%s", s.NS.Name, pods[i%stormPods].Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if names := stormNetns(t); len(names) != left {
		t.Errorf("netns left after the storm: %v, want the %d survivors", names, left)
	}
}

// stormReferences creates the storm's pods, each excluding a port of its
// own, and returns them with the nat table one ADD of each leaves in a
// fresh netns.
func stormReferences(t *testing.T, e *env) ([]cnirun.Pod, [][]string) {
	t.Helper()
	var pods []cnirun.Pod
	var refs [][]string
	for i := range stormPods {
		port := strconv.Itoa(20000 + i)
		name := fmt.Sprintf("storm-%d", i)
		uid := e.pod(t, "test", name, "envoy", map[string]string{meshsettings.AnnotationOutboundPortExclusions: port})
		s := e.newSandbox(t, "test", name, uid, "1.0.0", "")
		s.mustAdd(t)
		ref := podcheck.NATLines(s.natTables(t))
		if !strings.Contains(strings.Join(ref, "\n"), "--dport "+port+" ") && !strings.Contains(strings.Join(ref, "\n"), "--dports "+port+" ") {
			t.Fatalf("pod %s's rules do not exclude its port %s:\n%s", name, port, strings.Join(ref, "\n"))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		pods, refs = append(pods, cnirun.Pod{Namespace: "test", Name: name, UID: uid}), append(refs, ref)
	}
	return pods, refs
}

// storm is the sandboxes' traffic; gone counts the DELs that came after
// their netns had gone.
type storm struct {
	net  *cnirun.Network
	pods []cnirun.Pod
	mu   sync.Mutex
	// adds and dels count the chain's ADDs and DELs started, reached
	// when the budget is spent.
	adds, dels, gone int
}

// run drives every slot at once and returns each slot's last sandbox,
// still added, in slot order (nil for a slot that failed to make one).
func (st *storm) run() ([]*cnirun.Sandbox, error) {
	survivors := make([]*cnirun.Sandbox, stormSlots)
	errs := make([]error, stormSlots)
	var wg sync.WaitGroup
	for k := range stormSlots {
		wg.Go(func() { survivors[k], errs[k] = st.slot(k) })
	}
	wg.Wait()
	return survivors, errors.Join(errs...)
}

// slot makes sandboxes of one pod at one netns path, one after the other,
// until the budget is spent; the last one stays.
func (st *storm) slot(k int) (*cnirun.Sandbox, error) {
	ctx := context.Background()
	ns := fmt.Sprintf("mcs-%d-%d", os.Getpid(), k)
	for {
		s, err := st.net.OpenSandbox(st.pods[k%stormPods], ns)
		if err != nil {
			return nil, err
		}
		if kept, err := st.lifecycle(ctx, s); err != nil || kept {
			return s, err
		}
	}
}

// lifecycle adds s and, unless the budget is spent (then it is kept),
// tears it down as a runtime retrying it would.
func (st *storm) lifecycle(ctx context.Context, s *cnirun.Sandbox) (kept bool, err error) {
	st.count(1, 0, 0)
	if err := s.Add(ctx, true); err != nil {
		return false, err
	}
	if rand.IntN(3) == 0 {
		// mesh-cni's ADD again on the same netns, with the chain's result.
		st.count(1, 0, 0)
		if err := s.AddMesh(ctx); err != nil {
			return false, err
		}
	}
	if st.spent() {
		return true, nil
	}
	for range rand.IntN(3) {
		st.count(0, 1, 0)
		if err := s.Del(ctx); err != nil {
			return false, err
		}
	}
	gone := rand.IntN(2) == 0
	if gone {
		if err := s.RemoveNetns(); err != nil {
			return false, err
		}
	}
	if gone {
		st.count(0, 1, 1)
	} else {
		st.count(0, 1, 0)
	}
	return false, s.Close()
}

func (st *storm) count(adds, dels, gone int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.adds, st.dels, st.gone = st.adds+adds, st.dels+dels, st.gone+gone
}

func (st *storm) spent() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.adds >= stormBudget && st.dels >= stormBudget
}

// meshCalls counts the ADDs and DELs of mesh-cni the Recorder saw,
// failing on any plugin call that failed or a mesh-cni that logged an
// error.
func (st *storm) meshCalls(t *testing.T) (adds, dels int) {
	t.Helper()
	for _, c := range st.net.Recorder.Take() {
		if c.Err != nil {
			t.Errorf("%s %s of %s failed: %v", c.Plugin, c.Command, c.ContainerID, c.Err)
		}
		if c.Plugin != "mesh-cni" {
			continue
		}
		if strings.Contains(c.Stderr, "level=ERROR") {
			t.Errorf("mesh-cni %s of %s logged an error:\n%s", c.Command, c.ContainerID, c.Stderr)
		}
		switch c.Command {
		case "ADD":
			adds++
		case "DEL":
			dels++
		}
	}
	return adds, dels
}

// noLeftovers fails when the per-netns lock directory holds anything, or
// the run dir anything but the agent's socket, the netlink record and the
// plugin's journal, which may hold the storm's pods (the agent forgets a
// pod once it is gone from the API, not at DEL) and no temporary file.
func noLeftovers(t *testing.T, runDir string, pods []cnirun.Pod) {
	t.Helper()
	locks, err := os.ReadDir(apply.DefaultLockDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, l := range locks {
		t.Errorf("lock file left: %s", filepath.Join(apply.DefaultLockDir, l.Name()))
	}
	entries, err := os.ReadDir(runDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		switch en.Name() {
		case "agent.sock", apply.WireRecord:
		case journal.DirName:
			journalLeftovers(t, filepath.Join(runDir, journal.DirName), pods)
		default:
			t.Errorf("run dir entry left: %s", filepath.Join(runDir, en.Name()))
		}
	}
}

// journalLeftovers fails when the journal holds anything but records of
// the given pods.
func journalLeftovers(t *testing.T, dir string, pods []cnirun.Pod) {
	t.Helper()
	uids := map[string]bool{}
	for _, p := range pods {
		uids[p.UID] = true
	}
	podDirs, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range podDirs {
		if pd.Name() == "since" && !pd.IsDir() {
			continue // when the journal began, if the installer began it
		}
		if !uids[pd.Name()] {
			t.Errorf("journal entry of no storm pod left: %s", filepath.Join(dir, pd.Name()))
			continue
		}
		records, err := os.ReadDir(filepath.Join(dir, pd.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			if strings.HasPrefix(r.Name(), ".") {
				t.Errorf("temporary journal file left: %s", filepath.Join(dir, pd.Name(), r.Name()))
			}
		}
	}
}

// stormNetns lists the storm's netns that exist.
func stormNetns(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, fmt.Sprintf("mcs-%d-", os.Getpid())) {
			names = append(names, name)
		}
	}
	return names
}
