package chain

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/install/cniconf"
)

// fuzzName is the fuzzed file's stem; neighbour is the valid list that
// sorts after it unless the input is alone in net.d.
const (
	fuzzName  = "10-fuzz"
	neighbour = "20-bridge.conflist"
)

var neighbourData = []byte(`{"cniVersion":"1.0.0","name":"bridge-net","plugins":[{"type":"bridge","bridge":"cni0"}]}` + "\n")

// FuzzInstallRoundTrip installs into a net.d holding the input (as a
// .conflist or a .conf, alone or before a valid list) and uninstalls:
//   - the file the runtime then loads first holds mesh-cni exactly once,
//     last, after exactly the plugins it ran before;
//   - a file the runtime loads with a plugin other than mesh-cni is the one
//     installed into; install then uninstall gives it back byte for byte,
//     but for entries of mesh-cni it already held, which are cut out with
//     the separator before each (the one normalization: the rest keeps
//     its bytes, and a second round trip changes nothing);
//   - a file the runtime refuses is never rewritten, and alone it is
//     refused naming the file;
//   - a file holding only mesh-cni in front of the primary is removed.
func FuzzInstallRoundTrip(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*", "*"))
	if err != nil || len(paths) < 30 {
		f.Fatalf("golden net.d files: %d, %v", len(paths), err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var conf uint8
		if kind, _ := cniconf.KindOf(p); kind == cniconf.Single {
			conf = 1
		}
		f.Add(data, conf)
		f.Add(data, conf|2)
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		name := fuzzName + ".conflist"
		if flags&1 != 0 {
			name = fuzzName + ".conf"
		}
		roundTrip(t, name, data, flags&2 != 0)
	})
}

func roundTrip(t *testing.T, name string, data []byte, alone bool) {
	dir := memDir(t)
	mustWrite(t, filepath.Join(dir, name), data)
	if !alone {
		mustWrite(t, filepath.Join(dir, neighbour), neighbourData)
	}
	before := readDir(t, dir)
	in, loads := load(name, data)
	c := &Chain{Dir: dir, StatePath: filepath.Join(memDir(t), "state.json"), Log: quietLog()}
	res, err := c.Install(testEntry(t))
	switch {
	case loads && in.usable():
		if err != nil || filepath.Base(res.Path) != fuzzName+".conflist" {
			t.Fatalf("a config the runtime loads was not installed into: %+v, %v", res, err)
		}
	case alone:
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, name)) {
			t.Fatalf("Install = %+v, %v; want a refusal naming %s", res, err, name)
		}
		if got := readDir(t, dir); !reflect.DeepEqual(got, before) {
			t.Fatalf("a refused config was rewritten:\n%q\nwas\n%q", got, before)
		}
	default:
		if err != nil || filepath.Base(res.Path) != neighbour {
			t.Fatalf("Install = %+v, %v; want %s, past the file the runtime cannot use", res, err, neighbour)
		}
		if got, ok := readDir(t, dir)[name]; ok && !(bytes.Equal(got, data) && !loads) {
			t.Fatalf("%s (runtime loads it: %v) is now %q, want it untouched or removed when it holds only mesh-cni", name, loads, got)
		}
	}
	want := in
	if !loads || !in.usable() {
		want, _ = load(neighbour, neighbourData)
	} else if want.name == "" && filepath.Ext(name) == ".conf" {
		// A .conf without a name: the list is named after the file.
		want.name = fuzzName
	}
	if err == nil {
		checkInstalled(t, c, res, want)
	}
	if err := c.Uninstall(); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	checkUninstalled(t, dir, name, before, in, loads)
}

// checkInstalled fails unless the runtime's first file is res.Path, holds
// the plugins of want and mesh-cni once, last, and a second Install
// changes nothing.
func checkInstalled(t *testing.T, c *Chain, res Result, want loaded) {
	t.Helper()
	chosen, got := runtimeChoice(t, c.Dir)
	if chosen != filepath.Base(res.Path) {
		t.Fatalf("installed into %s, but the runtime loads %s", res.Path, chosen)
	}
	if got.ours() != 1 || got.types[len(got.types)-1] != "mesh-cni" {
		t.Fatalf("%s has plugins %v, want mesh-cni once and last", chosen, got.types)
	}
	var entry map[string]any
	if err := json.Unmarshal(testEntry(t), &entry); err != nil || !reflect.DeepEqual(got.plugins[len(got.plugins)-1], entry) {
		t.Fatalf("mesh-cni's entry reads %v, want %v (%v)", got.plugins[len(got.plugins)-1], entry, err)
	}
	sameChain(t, chosen, got, want)
	if again, err := c.Install(testEntry(t)); err != nil || again.Changed || again.Path != res.Path {
		t.Fatalf("second Install = %+v, %v; want no change", again, err)
	}
}

// checkUninstalled fails unless net.d is as before the install, but for
// entries of mesh-cni cut out of the fuzzed list and a file holding only
// mesh-cni, which is gone.
func checkUninstalled(t *testing.T, dir, name string, before map[string][]byte, in loaded, loads bool) {
	t.Helper()
	after := readDir(t, dir)
	want := before
	if loads && in.ours() > 0 {
		want = map[string][]byte{}
		for k, v := range before {
			if k != name {
				want[k] = v
			}
		}
		if in.usable() {
			got, ok := load(name, after[name])
			if !ok || got.ours() != 0 {
				t.Fatalf("after uninstall %s reads %v (loads: %v), want the list without mesh-cni", name, got.types, ok)
			}
			sameChain(t, name+" after uninstall", got, in)
			want[name] = after[name]
			checkFixpoint(t, name, after[name])
		}
	}
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("after install and uninstall net.d holds\n%q\nwant\n%q", after, want)
	}
}

// checkFixpoint fails unless a list without mesh-cni comes back from a
// second round trip byte for byte.
func checkFixpoint(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := memDir(t)
	mustWrite(t, filepath.Join(dir, name), data)
	c := &Chain{Dir: dir, StatePath: filepath.Join(memDir(t), "state.json"), Log: quietLog()}
	if _, err := c.Install(testEntry(t)); err != nil {
		t.Fatalf("second round trip: %v", err)
	}
	if err := c.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if got := readDir(t, dir)[name]; !bytes.Equal(got, data) {
		t.Fatalf("second round trip gave\n%q\nwant\n%q", got, data)
	}
}

// memDir is a temporary directory in memory where the host has one: every
// write of the installer is fsynced, which on a disk makes each input
// cost milliseconds, and minimizing a failing input thousands of them.
func memDir(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "mesh-cni-fuzz-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
