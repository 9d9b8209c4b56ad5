package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/pkg/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/pkg/install/cniconf"
)

// TestSIGKILLDuringInstall kills the installer at random points of its
// install, 100 times over the same node, alternating a node whose primary
// is a .conflist and one whose primary is a .conf (the conversion is the
// longest sequence of writes). After every kill the node must be sound.
func TestSIGKILLDuringInstall(t *testing.T) {
	for _, tc := range []struct{ name, netd, primary string }{
		{"conflist", "flannel/netd", "10-flannel.conflist"},
		{"conf", "bridge-conf/netd", "10-bridge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, filepath.Join(testdata, tc.netd))
			before := snapshot(t, n.netd)
			full := timeToReady(t, n)

			outcomes := map[string]int{}
			for i := 0; i < 50; i++ {
				p := n.start(t)
				time.Sleep(time.Duration(rand.Int64N(int64(full))))
				p.stop(t, syscall.SIGKILL)
				outcome := n.checkSound(t, tc.primary)
				if t.Failed() {
					t.Fatalf("after kill %d", i)
				}
				outcomes[outcome]++
				if outcome == "entry installed" {
					// Start the next run on a fresh node; a partial install
					// is kept, for the next run to recover from it.
					n.reset(t, before)
				}
			}
			t.Logf("state after the kills: %v (a full install takes %v)", outcomes, full)

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
			sameSnapshot(t, snapshot(t, n.netd), before)
		})
	}
}

// timeToReady measures one uninterrupted install, to spread the kills
// over the whole of it.
func timeToReady(t *testing.T, n *node) time.Duration {
	t.Helper()
	start := time.Now()
	p := n.start(t)
	n.waitReady(t)
	full := time.Since(start)
	p.stop(t, syscall.SIGTERM)
	return full
}

// reset makes the node as it was before any install, except for
// temporary files, which the next run must clean up.
func (n *node) reset(t *testing.T, files map[string]string) {
	t.Helper()
	for _, dir := range []string{n.netd, n.bin, n.run} {
		for name := range snapshot(t, dir) {
			if !strings.HasPrefix(name, atomicfile.TempPrefix) {
				must(t, os.RemoveAll(filepath.Join(dir, name)))
			}
		}
	}
	n.restore(t, files)
}

func (n *node) restore(t *testing.T, files map[string]string) {
	t.Helper()
	for name, data := range files {
		must(t, os.WriteFile(filepath.Join(n.netd, name), []byte(data), 0o644))
	}
}

// checkSound fails the test when a kill left a truncated binary, an
// invalid or duplicated chain, anything but a socket at the agent's path,
// or no primary config at all, and returns how far the install had got.
// A socket a killed agent left is expected: the next start replaces it.
func (n *node) checkSound(t *testing.T, primary string) string {
	t.Helper()
	binary := filepath.Join(n.bin, "mesh-cni")
	if _, err := os.Stat(binary); err == nil && !n.binaryOK() {
		t.Errorf("%s is not a complete copy of the plugin", binary)
	}
	st, err := os.Lstat(n.sock)
	socket := err == nil
	if socket && st.Mode()&os.ModeSocket == 0 {
		t.Errorf("%s is not a socket: %v", n.sock, st.Mode())
	}
	entries, primaries, ours := snapshot(t, n.netd), 0, 0
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
			primaries++
			ours += doc.Count("mesh-cni")
		}
	}
	if primaries == 0 {
		t.Errorf("the primary config %s* is gone: %v", primary, keys(entries))
	}
	switch {
	case ours > 0 && primaries > 1:
		return "converted, .conf not yet removed"
	case ours > 0:
		return "entry installed"
	case n.binaryOK():
		return "agent and binary"
	case socket:
		return "agent only"
	default:
		return "nothing yet"
	}
}
