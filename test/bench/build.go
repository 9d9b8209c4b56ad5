package main

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// binaries are the programs under test, built from this tree, and the
// pinned third-party CNI plugins beside them.
type binaries struct {
	// root is the repository.
	root string
	// dir is CNI_PATH: mesh-cni, bridge, host-local, loopback.
	dir string
	// meshCNI and installer are static, stripped builds.
	meshCNI, installer string
	// emptyGo is a Go program that does nothing, built the same way: the
	// cost of starting any Go binary here.
	emptyGo string
	// meshCNISize is the shipped plugin's size in bytes.
	meshCNISize int64
	// baseline is the second mesh-cni (-baseline), or nil.
	baseline *baseline
}

// buildBinaries builds mesh-cni and the installer as the Makefile does
// (static, -trimpath, -s -w), and links the pinned
// CNI plugins (test/tools/build.sh) next to them.
func buildBinaries(t *phase) *binaries {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository: %v", err)
	}
	dir, err := os.MkdirTemp("", "mesh-cni-bench-bin-")
	if err != nil {
		t.Fatalf("temp dir for binaries: %v", err)
	}
	b := &binaries{root: root, dir: dir, meshCNI: filepath.Join(dir, "mesh-cni"),
		installer: filepath.Join(dir, "installer"), emptyGo: filepath.Join(dir, "empty-go")}
	src := filepath.Join(dir, "empty.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		b.remove()
		t.Fatalf("writing the empty Go program: %v", err)
	}
	for out, pkg := range map[string]string{b.meshCNI: "./cmd/mesh-cni", b.installer: "./cmd/installer", b.emptyGo: src} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.remove()
			t.Fatalf("go build %s: %v\n%s", pkg, err, o)
		}
	}
	st, err := os.Stat(b.meshCNI)
	if err != nil {
		b.remove()
		t.Fatalf("stat mesh-cni: %v", err)
	}
	b.meshCNISize = st.Size()
	bins, err := cluster.EnsureBinaries()
	if err != nil {
		b.remove()
		t.Fatalf("building the CNI plugins and Kubernetes (test/tools/build.sh): %v", err)
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := os.Symlink(filepath.Join(bins.CNIBinDir, p), filepath.Join(dir, p)); err != nil {
			b.remove()
			t.Fatalf("linking CNI plugin %s: %v", p, err)
		}
	}
	return b
}

func (b *binaries) remove() { os.RemoveAll(b.dir) }
