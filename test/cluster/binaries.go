package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Binaries says where test/tools/build.sh put the third-party binaries.
type Binaries struct {
	// CacheDir is $MESH_CNI_CACHE or its default.
	CacheDir string
	// KubeBinDir holds kube-apiserver, kube-controller-manager, kube-scheduler,
	// kubelet and kube-proxy.
	KubeBinDir string
	// CNIBinDir holds the bridge, host-local, loopback and portmap CNI plugins.
	CNIBinDir string
	// PauseBin is a static pause binary for the sandbox image.
	PauseBin string
	// OSMDir holds OSM's osm-injector and, in crds/, the CRDs it waits for.
	OSMDir string
}

// Kube returns the path of one of the Kubernetes binaries.
func (b Binaries) Kube(name string) string { return filepath.Join(b.KubeBinDir, name) }

var (
	buildOnce sync.Once
	buildBins Binaries
	buildErr  error
)

// EnsureBinaries runs test/tools/build.sh (a no-op of well under a second when
// the cache is warm) once per process and returns where the binaries are.
func EnsureBinaries() (Binaries, error) {
	buildOnce.Do(func() { buildBins, buildErr = runBuildScript() })
	return buildBins, buildErr
}

func runBuildScript() (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	script := filepath.Join(root, "test", "tools", "build.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script, "all")
	cmd.Stdout = &stdout
	// A cold build runs for minutes: let people see its progress live.
	cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	if err := cmd.Run(); err != nil {
		return Binaries{}, fmt.Errorf("running %s: %w\n%s", script, err, tail(stderr.String(), 40))
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	b := Binaries{CacheDir: kv["CACHE_DIR"], KubeBinDir: kv["KUBE_BIN_DIR"], CNIBinDir: kv["CNI_BIN_DIR"], PauseBin: kv["PAUSE_BIN"], OSMDir: kv["OSM_DIR"]}
	if b.KubeBinDir == "" || b.CNIBinDir == "" || b.PauseBin == "" || b.OSMDir == "" {
		return Binaries{}, fmt.Errorf("%s printed no binary locations: %q", script, stdout.String())
	}
	return b, nil
}

// RepoRoot finds the mesh-cni checkout: from this source file when it is
// available, else by walking up from the working directory to the go.mod of
// module github.com/mesh-cni/mesh-cni.
func RepoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			data, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && bytes.Contains(data, []byte("module github.com/mesh-cni/mesh-cni\n")) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("locating the mesh-cni repository root from %v: no go.mod of github.com/mesh-cni/mesh-cni", starts)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fileTail returns the last n lines of a log file, or why it cannot.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(data), n)
}
