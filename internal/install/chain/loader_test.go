package chain

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/mesh-cni/mesh-cni/internal/install/cniconf"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
)

// loaded is a CNI config as the container runtime sees it.
type loaded struct {
	name, version string
	// plugins are the chain's plugin objects, decoded.
	plugins []map[string]any
	types   []string
}

// load reads a config file the way containerd's go-cni and CRI-O's ocicni
// do, with libcni: a list with ConfListFromBytes (and at least one plugin:
// libcni would look for plugin files in a directory named after the
// network, which the tests never make), a single plugin with ConfFromBytes
// then ConfListFromConf. false: the runtime refuses the file.
func load(name string, data []byte) (loaded, bool) {
	kind, ok := cniconf.KindOf(name)
	if !ok {
		return loaded{}, false
	}
	var list *libcni.NetworkConfigList
	var err error
	if kind == cniconf.List {
		list, err = libcni.ConfListFromBytes(data)
	} else {
		var conf *libcni.PluginConfig
		if conf, err = libcni.ConfFromBytes(data); err == nil {
			list, err = libcni.ConfListFromConf(conf)
		}
	}
	if err != nil || len(list.Plugins) == 0 {
		return loaded{}, false
	}
	l := loaded{name: list.Name, version: list.CNIVersion}
	for _, p := range list.Plugins {
		var obj map[string]any
		if err := json.Unmarshal(p.Bytes, &obj); err != nil {
			return loaded{}, false
		}
		l.plugins = append(l.plugins, obj)
		l.types = append(l.types, p.Network.Type)
	}
	return l, true
}

// ours counts the plugins of mesh-cni's type.
func (l loaded) ours() int {
	n := 0
	for _, t := range l.types {
		if t == entry.PluginType {
			n++
		}
	}
	return n
}

// usable says whether the runtime would run this chain: it loads and has
// a plugin that is not mesh-cni (a chain of mesh-cni alone has no
// primary).
func (l loaded) usable() bool { return len(l.types) > l.ours() }

// others are the plugins that are not mesh-cni's, in order.
func (l loaded) others() []map[string]any {
	var out []map[string]any
	for i, p := range l.plugins {
		if l.types[i] != entry.PluginType {
			out = append(out, p)
		}
	}
	return out
}

// runtimeChoice is the file the runtime uses: the first, in lexical order,
// that it loads (ocicni's rule; go-cni stops at a first file it cannot
// load, and then the node has no network at all).
func runtimeChoice(t *testing.T, dir string) (string, loaded) {
	t.Helper()
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := load(filepath.Base(path), data); ok {
			return filepath.Base(path), l
		}
	}
	return "", loaded{}
}

// sameChain fails unless got holds want's plugins but mesh-cni's, in
// order and each equal once decoded, under the same network name.
func sameChain(t *testing.T, what string, got, want loaded) {
	t.Helper()
	if got.name != want.name || !reflect.DeepEqual(got.others(), want.others()) {
		t.Fatalf("%s: network %q with plugins %v, want %q with %v", what, got.name, got.others(), want.name, want.others())
	}
}
