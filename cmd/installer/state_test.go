package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/install/cniconf"
)

// chainEntries returns the plugin types of the file at path, or nil when it
// is missing or not a valid configuration.
func chainTypes(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	kind, _ := cniconf.KindOf(path)
	doc, err := cniconf.Parse(data, kind)
	if err != nil {
		return nil
	}
	return doc.Types()
}

// hasOurEntryLast reports whether the list at path ends with our plugin,
// holds it once, and names the node agent's socket.
func (n *node) hasOurEntryLast(path string) bool {
	types := chainTypes(path)
	if len(types) < 2 || types[len(types)-1] != "mesh-cni" || strings.Count(strings.Join(types, " "), "mesh-cni") != 1 {
		return false
	}
	var list struct{ Plugins []map[string]any }
	if json.Unmarshal([]byte(mustRead(path)), &list) != nil {
		return false
	}
	last := list.Plugins[len(list.Plugins)-1]
	return last["agentSocket"] == n.sock && last["kubeconfig"] == nil
}

func mustRead(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// binaryOK reports whether the installed plugin is a complete copy.
func (n *node) binaryOK() bool {
	got, err := os.ReadFile(filepath.Join(n.bin, "mesh-cni"))
	if err != nil {
		return false
	}
	want, _ := os.ReadFile(n.source)
	st, err := os.Stat(filepath.Join(n.bin, "mesh-cni"))
	return err == nil && bytes.Equal(got, want) && st.Mode().Perm() == 0o755
}

// hostFilesWith lists the files under the node's root, the service
// account dir aside, that contain s: the token must be in none.
func (n *node) hostFilesWith(t *testing.T, s string) []string {
	t.Helper()
	var found []string
	must(t, filepath.WalkDir(n.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == n.sa {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && strings.Contains(mustRead(path), s) {
			found = append(found, path)
		}
		return nil
	}))
	return found
}

// socketLabel stands in for a socket's content in snapshots: a socket
// cannot be read.
const socketLabel = "<socket>"

// dirLabel stands in for a directory's content in snapshots.
const dirLabel = "<directory>"

// snapshot returns every file of dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	out := map[string]string{}
	for _, e := range entries {
		if e.Type()&fs.ModeSocket != 0 {
			out[e.Name()] = socketLabel
			continue
		}
		if e.IsDir() {
			// The plugin's journal (internal/journal), whose start is a time.
			out[e.Name()] = dirLabel
			continue
		}
		out[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func sameSnapshot(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("files %v, want %v", keys(got), keys(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s is not as before:\n--- got\n%s\n--- want\n%s", name, g, w)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func gone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
}
