package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/install/cniconf"
	"github.com/mesh-cni/mesh-cni/internal/install/phase"
)

// sigkills is how many times each case kills an install.
const sigkills = 40

// TestSIGKILLDuringInstall kills the installer during its install, 40
// times over the same node, on a node whose primary is a .conflist and on
// one whose primary is a .conf (the conversion is the longest sequence of
// writes). Every other kill is aimed: sent from the installer's stderr the
// moment it logs that the binary is in place (phase binary_installed), to
// land between the binary copy and the config write; the others come at a
// random time within an uninterrupted install. The phases the killed run
// logged say how far it got, and must agree with the node: a phase logged
// is on disk, and the entry never comes before the binary. At least a
// third of all kills must have landed between the copy and the write.
// After each kill the node must be sound; a restart, itself killed at a
// random time half the time, must then become ready with a complete binary
// and the entry once, and its SIGTERM give the node back as it was.
func TestSIGKILLDuringInstall(t *testing.T) {
	for _, tc := range []struct{ name, netd, primary string }{
		{"conflist", "flannel/netd", "10-flannel.conflist"},
		{"conf", "bridge-conf/netd", "10-bridge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, filepath.Join(testdata, tc.netd))
			before := snapshot(t, n.netd)
			full := timeToReady(t, n)
			outcomes, between, aimedBetween := map[string]int{}, 0, 0
			for i := range sigkills {
				var l landed
				if i%2 == 0 {
					l = n.killAimed(t, tc.primary)
				} else {
					l = n.killRandom(t, tc.primary, full)
				}
				if t.Failed() {
					t.Fatalf("after kill %d (aimed: %v), which logged phases %v", i, i%2 == 0, l.phases)
				}
				outcomes[l.st.outcome()]++
				if l.betweenCopyAndWrite() {
					between++
					aimedBetween += 1 - i%2
				}
				if rand.IntN(2) == 0 {
					n.killRandom(t, tc.primary, full)
				}
				n.restartToReady(t, tc.primary, before)
			}
			t.Logf("%d of %d kills (%d of the %d aimed) landed between the binary copy and the config write; state after each kill: %v (an uninterrupted install takes %v)",
				between, sigkills, aimedBetween, sigkills/2, outcomes, full)
			if between*3 < sigkills {
				t.Errorf("only %d of %d kills landed between the binary copy and the config write, want at least a third", between, sigkills)
			}
			n.noTemporaryFiles(t)
		})
	}
}

// timeToReady measures one uninterrupted install, to spread the random
// kills over the whole of it.
func timeToReady(t *testing.T, n *node) time.Duration {
	t.Helper()
	start := time.Now()
	p := n.start(t)
	n.waitReady(t)
	full := time.Since(start)
	p.stop(t, syscall.SIGTERM)
	return full
}

// landed is where a kill fell: the phases the killed run had logged, in
// order, and what it left on the node.
type landed struct {
	phases []string
	st     nodeState
}

// betweenCopyAndWrite says the kill fell after the binary was in place and
// before the entry was written.
func (l landed) betweenCopyAndWrite() bool {
	return slices.Contains(l.phases, phase.BinaryInstalled) && l.st.ours == 0
}

// killAimed starts the installer and kills it when it logs that the
// binary is in place.
func (n *node) killAimed(t *testing.T, primary string) landed {
	t.Helper()
	mark := []byte(`"` + phase.Key + `":"` + phase.BinaryInstalled + `"`)
	p := n.startWatched(t, func(p *proc, logged []byte) {
		if bytes.Contains(logged, mark) {
			p.cmd.Process.Kill()
		}
	})
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("the installer never logged phase %s", phase.BinaryInstalled)
	}
	return n.landing(t, p, primary)
}

// killRandom starts the installer and kills it within d.
func (n *node) killRandom(t *testing.T, primary string, d time.Duration) landed {
	t.Helper()
	p := n.start(t)
	time.Sleep(time.Duration(rand.Int64N(int64(d))))
	p.stop(t, syscall.SIGKILL)
	return n.landing(t, p, primary)
}

// landing checks the node a kill left against the phases the killed run
// logged.
func (n *node) landing(t *testing.T, p *proc, primary string) landed {
	t.Helper()
	l := landed{phases: loggedPhases(t, p.logs.String()), st: n.checkSound(t, primary)}
	order := []string{phase.AgentServing, phase.BinaryInstalled, phase.EntryInstalled, phase.Ready}
	last := -1
	for _, ph := range l.phases {
		i := slices.Index(order, ph)
		if i < last {
			t.Errorf("phase %s logged after %s", ph, order[last])
		}
		last = max(last, i)
	}
	if slices.Contains(l.phases, phase.BinaryInstalled) && !l.st.binary {
		t.Errorf("phase %s logged, but the binary is not a complete copy", phase.BinaryInstalled)
	}
	if slices.Contains(l.phases, phase.EntryInstalled) && l.st.ours != 1 {
		t.Errorf("phase %s logged, but the primary holds %d entries of ours", phase.EntryInstalled, l.st.ours)
	}
	if l.st.ours > 0 && !l.st.binary {
		t.Error("the entry is in the chain before the binary is in place")
	}
	return l
}

// loggedPhases are the values of "phase" in the installer's JSON log
// lines, in order.
func loggedPhases(t *testing.T, logs string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %q is not JSON: %v", line, err)
			continue
		}
		if ph, ok := rec[phase.Key].(string); ok {
			out = append(out, ph)
		}
	}
	return out
}

// restartToReady starts the installer on what the kills left: it must
// become ready with a complete binary and the entry once, and its SIGTERM
// must give back the CNI config as it was before any install.
func (n *node) restartToReady(t *testing.T, primary string, before map[string]string) {
	t.Helper()
	p := n.start(t)
	n.waitReady(t)
	if st := n.checkSound(t, primary); !st.binary || st.ours != 1 || st.primaries != 1 {
		t.Fatalf("ready after a restart with %+v, want the binary and one entry in one primary", st)
	}
	p.stop(t, syscall.SIGTERM)
	sameSnapshot(t, snapshot(t, n.netd), before)
	if _, err := os.Stat(filepath.Join(n.bin, "mesh-cni")); !os.IsNotExist(err) {
		t.Fatalf("the binary is left after SIGTERM: %v", err)
	}
}

// noTemporaryFiles fails if a clean start and stop left any temporary
// file of a killed run.
func (n *node) noTemporaryFiles(t *testing.T) {
	t.Helper()
	p := n.start(t)
	n.waitReady(t)
	for _, dir := range []string{n.bin, n.netd, n.run} {
		for name := range snapshot(t, dir) {
			if strings.HasPrefix(name, atomicfile.TempPrefix) {
				t.Errorf("temporary file %s left in %s after a clean start", name, dir)
			}
		}
	}
	p.stop(t, syscall.SIGTERM)
}

// nodeState is what an installer left on the node.
type nodeState struct {
	// binary: the plugin binary is a complete copy, mode 0755.
	binary bool
	// ours counts mesh-cni's entries in the primary's files, primaries
	// those files (2 while a converted .conf is not yet removed).
	ours, primaries int
	// socket: the agent's socket is there.
	socket bool
}

func (s nodeState) outcome() string {
	switch {
	case s.ours > 0 && s.primaries > 1:
		return "converted, .conf not yet removed"
	case s.ours > 0:
		return "entry installed"
	case s.binary:
		return "agent and binary"
	case s.socket:
		return "agent only"
	default:
		return "nothing yet"
	}
}

// checkSound fails the test when the node holds a truncated binary, an
// invalid or duplicated chain, anything but a socket at the agent's path,
// or no primary config at all, and returns its state. A socket a killed
// agent left is expected: the next start replaces it.
func (n *node) checkSound(t *testing.T, primary string) nodeState {
	t.Helper()
	var s nodeState
	binary := filepath.Join(n.bin, "mesh-cni")
	s.binary = n.binaryOK()
	if _, err := os.Stat(binary); err == nil && !s.binary {
		t.Errorf("%s is not a complete copy of the plugin", binary)
	}
	st, err := os.Lstat(n.sock)
	s.socket = err == nil
	if s.socket && st.Mode()&os.ModeSocket == 0 {
		t.Errorf("%s is not a socket: %v", n.sock, st.Mode())
	}
	entries := snapshot(t, n.netd)
	for name, data := range entries {
		kind, loaded := cniconf.KindOf(name)
		if !loaded {
			continue
		}
		doc, err := cniconf.Parse([]byte(data), kind)
		if err != nil {
			t.Errorf("%s is invalid after a kill: %v\n%s", name, err, data)
			continue
		}
		if c := doc.Count("mesh-cni"); c > 1 {
			t.Errorf("%s holds %d entries of ours", name, c)
		}
		if strings.HasPrefix(name, primary) {
			s.primaries++
			s.ours += doc.Count("mesh-cni")
		}
	}
	if s.primaries == 0 {
		t.Errorf("the primary config %s* is gone: %v", primary, keys(entries))
	}
	return s
}
