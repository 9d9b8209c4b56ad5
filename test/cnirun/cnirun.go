// Package cnirun drives CNI plugin chains through libcni the way containerd
// does, for tests and benchmarks: a conflist of the real bridge and
// host-local plugins followed (or not) by mesh-cni, a fresh network
// namespace per sandbox, ADD/CHECK/DEL with the CNI_ARGS containerd sets,
// and a Recorder that times each plugin of the chain and measures its
// memory.
//
// Addresses come from the subnet the caller names, on a bridge this
// package names and deletes; no default route is configured. Everything
// made is removed by t.Cleanup, even when the caller fails. It needs root.
package cnirun

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// Options describe a Network.
type Options struct {
	// BinDir is CNI_PATH: it holds bridge, host-local and mesh-cni.
	BinDir string
	// Subnet is host-local's range; the bridge gets its first address.
	// It must be private to this host.
	Subnet netip.Prefix
	// AgentSocket is where mesh-cni asks the node agent (see test/agentrun).
	AgentSocket string
	// MeshSettings are extra JSON members of mesh-cni's entry, without
	// braces, e.g. `"logLevel": "debug"`.
	MeshSettings string
	// CNIVersion of the conflist; default 1.0.0.
	CNIVersion string
}

// Network is one bridge network as containerd's CNI config would describe
// it, with and without mesh-cni at the end of the chain.
type Network struct {
	// Name is the conflist's network name (the same for both chains, as
	// when an installer appends mesh-cni to the node's conflist).
	Name string
	// Bridge is the Linux bridge the bridge plugin creates.
	Bridge string
	// Recorder sees every plugin execution.
	Recorder *Recorder

	opts     Options
	ipamDir  string
	cacheDir string
	withMesh *libcni.NetworkConfigList
	noMesh   *libcni.NetworkConfigList
	cni      *libcni.CNIConfig
}

var seq atomic.Int64

// New prepares a network (the bridge appears with the first ADD) and
// arranges for the bridge and the IPAM state to go at the end of the test.
func New(t testing.TB, o Options) *Network {
	t.Helper()
	if o.CNIVersion == "" {
		o.CNIVersion = "1.0.0"
	}
	n := &Network{
		Name:     fmt.Sprintf("cnirun-%d", seq.Add(1)),
		Bridge:   fmt.Sprintf("mcr%d%d", os.Getpid()%100000, seq.Add(1)%1000),
		Recorder: &Recorder{},
		opts:     o,
		ipamDir:  t.TempDir(),
		cacheDir: t.TempDir(),
	}
	n.parseChains(t)
	n.cni = libcni.NewCNIConfigWithCacheDir([]string{o.BinDir}, n.cacheDir, n.Recorder)
	t.Cleanup(func() {
		out, err := exec.Command("ip", "link", "del", n.Bridge).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("cnirun: deleting bridge %s: %v: %s", n.Bridge, err, out)
		}
	})
	return n
}

// Variant is a Network on n's bridge, with n's name, IPAM state, libcni
// cache and Recorder, whose chain differs only in mesh-cni's settings and,
// unless cniVersion is empty, the conflist's version. Its pods share one
// segment and one address pool with n's, so a test can try settings or
// versions against pods already running, as on a node whose conflist was
// rewritten between pods. The bridge stays n's to delete.
func (n *Network) Variant(t testing.TB, meshSettings, cniVersion string) *Network {
	t.Helper()
	v := *n
	v.opts.MeshSettings = meshSettings
	if cniVersion != "" {
		v.opts.CNIVersion = cniVersion
	}
	v.parseChains(t)
	return &v
}

func (n *Network) parseChains(t testing.TB) {
	t.Helper()
	var err error
	if n.withMesh, err = libcni.ConfListFromBytes(n.conflist(true)); err != nil {
		t.Fatalf("cnirun: conflist with mesh-cni: %v", err)
	}
	if n.noMesh, err = libcni.ConfListFromBytes(n.conflist(false)); err != nil {
		t.Fatalf("cnirun: conflist without mesh-cni: %v", err)
	}
}

// conflist is the chain: bridge as the gateway of its subnet with no
// masquerading and host-local with no routes (so no default route in the
// pod), then mesh-cni when withMesh.
func (n *Network) conflist(withMesh bool) []byte {
	mesh := ""
	if withMesh {
		extra := ""
		if n.opts.MeshSettings != "" {
			extra = ", " + n.opts.MeshSettings
		}
		mesh = fmt.Sprintf(`,
    {"type": "mesh-cni", "agentSocket": %q, "runDir": %q%s}`, n.opts.AgentSocket, filepath.Dir(n.opts.AgentSocket), extra)
	}
	return []byte(fmt.Sprintf(`{
  "cniVersion": %q,
  "name": %q,
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]]}}%s
  ]
}`, n.opts.CNIVersion, n.Name, n.Bridge, n.ipamDir, n.opts.Subnet.Masked(), mesh))
}

// Chain is the conflist with mesh-cni last (withMesh) or without it.
func (n *Network) Chain(withMesh bool) *libcni.NetworkConfigList {
	if withMesh {
		return n.withMesh
	}
	return n.noMesh
}

// CNI is the libcni runtime of this network: CNI_PATH, cache dir and the
// Recorder.
func (n *Network) CNI() *libcni.CNIConfig { return n.cni }
