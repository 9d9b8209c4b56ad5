package chain

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/install/entry"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/*/installed and testdata/*/uninstalled")

const (
	testAgentSocket = "/var/run/mesh-cni/agent.sock"
	testRunDir      = "/var/run/mesh-cni"
)

func testEntry(t *testing.T) []byte {
	t.Helper()
	s, err := entry.Parse([]byte(`{"profile":"osm-v0","excludeNamespaces":["kube-system","mesh-cni"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.JSON(testAgentSocket, testRunDir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestGolden installs into each real-world net.d under testdata/<case>/netd
// and compares the whole directory after install and after uninstall with
// the golden directories next to it.
func TestGolden(t *testing.T) {
	tests := []struct {
		name      string
		confName  string
		primary   string // the file that must hold our entry
		exactBack bool   // uninstall must give back netd/ byte for byte
		hadEntry  bool   // netd/ already holds an entry of ours
	}{
		{name: "bridge-conflist", primary: "10-bridge.conflist", exactBack: true},
		{name: "bridge-conf", primary: "10-bridge.conflist", exactBack: true},
		{name: "calico", primary: "10-calico.conflist", exactBack: true},
		{name: "cilium", primary: "05-cilium.conflist", exactBack: true},
		{name: "flannel", primary: "10-flannel.conflist", exactBack: true},
		{name: "kindnet", primary: "10-kindnet.conflist", exactBack: true},
		{name: "aws-vpc-cni", primary: "10-aws.conflist", exactBack: true},
		{name: "multus", primary: "00-multus.conflist", exactBack: true},
		{name: "unknown-fields", primary: "20-custom.conflist", exactBack: true},
		{name: "invalid-first", primary: "10-bridge.conflist", exactBack: true},
		{name: "stale-entry", primary: "10-flannel.conflist", hadEntry: true},
		{name: "conf-name", confName: "20-chosen.conf", primary: "20-chosen.conflist", exactBack: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join("testdata", tc.name, "netd")
			dir := t.TempDir()
			copyDir(t, src, dir, 0o640)
			c := &Chain{Dir: dir, ConfName: tc.confName, StatePath: filepath.Join(t.TempDir(), "state.json"), Log: quietLog()}

			res, err := c.Install(testEntry(t))
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(res.Path) != tc.primary || res.Added == tc.hadEntry || !res.Changed {
				t.Errorf("Install = %+v, want %s changed (added: %v)", res, tc.primary, !tc.hadEntry)
			}
			compareDir(t, dir, filepath.Join("testdata", tc.name, "installed"), 0o640)

			again, err := c.Install(testEntry(t))
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed || again.Added || again.Path != res.Path {
				t.Errorf("second Install = %+v, want no change to %s", again, res.Path)
			}

			if err := c.Uninstall(); err != nil {
				t.Fatal(err)
			}
			compareDir(t, dir, filepath.Join("testdata", tc.name, "uninstalled"), 0o640)
			if tc.exactBack && !*update {
				compareDir(t, dir, src, 0o640)
			}
		})
	}
}

func copyDir(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	for name, data := range readDir(t, from) {
		if err := os.WriteFile(filepath.Join(to, name), data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(to, name), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

// compareDir checks that got holds exactly the files of want, byte for
// byte, each with the given mode; with -update it rewrites want instead.
func compareDir(t *testing.T, got, want string, mode os.FileMode) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(want); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(want, 0o755); err != nil {
			t.Fatal(err)
		}
		copyDir(t, got, want, 0o644)
		return
	}
	g, w := readDir(t, got), readDir(t, want)
	if names(g) != names(w) {
		t.Fatalf("%s holds %s, want %s (from %s)", got, names(g), names(w), want)
	}
	for name, data := range w {
		if !bytes.Equal(g[name], data) {
			t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, want, g[name], data)
		}
		st, err := os.Stat(filepath.Join(got, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
}

func names(m map[string][]byte) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return filepath.Join(out...)
}
