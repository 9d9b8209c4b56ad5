// Package integration drives the real mesh-cni binary through libcni, as
// containerd does, after the real bridge and host-local plugins, against a
// real kube-apiserver and etcd on loopback, and proves with real TCP where
// traffic lands. It needs root; without it the tests fail, unless
// MESH_CNI_SKIP_KERNEL=1 asks for a skip.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
)

// binDir is the CNI_PATH of every test: mesh-cni built from this tree,
// beside the pinned bridge, host-local and loopback plugins.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("MESH_CNI_SKIP_KERNEL") == "1" {
		// Every test skips itself through netns.RequireKernel.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mesh-cni-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	defer cnirun.LeaveRunDirAsFound()()
	if err := prepareBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	return m.Run()
}

// prepareBinaries builds mesh-cni into dir and links the third-party
// plugins next to it.
func prepareBinaries(dir string) error {
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	// Built as the Makefile builds it: static (no cgo, so no dynamic
	// loader at each exec) and stripped.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "mesh-cni"), "./cmd/mesh-cni")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building mesh-cni: %w\n%s", err, out)
	}
	bins, err := cluster.EnsureBinaries()
	if err != nil {
		return fmt.Errorf("building the CNI plugins and kube-apiserver: %w", err)
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := os.Symlink(filepath.Join(bins.CNIBinDir, p), filepath.Join(dir, p)); err != nil {
			return err
		}
	}
	return nil
}
