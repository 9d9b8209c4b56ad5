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
	// HelmBin is Helm, for charts/mesh-cni's tests.
	HelmBin string
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
	kv, err := buildScript("all")
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{CacheDir: kv["CACHE_DIR"], KubeBinDir: kv["KUBE_BIN_DIR"], CNIBinDir: kv["CNI_BIN_DIR"], PauseBin: kv["PAUSE_BIN"], OSMDir: kv["OSM_DIR"], HelmBin: kv["HELM_BIN"]}
	if b.KubeBinDir == "" || b.CNIBinDir == "" || b.PauseBin == "" || b.OSMDir == "" || b.HelmBin == "" {
		return Binaries{}, fmt.Errorf("test/tools/build.sh all printed no binary locations: %v", kv)
	}
	return b, nil
}

var (
	helmOnce sync.Once
	helmBin  string
	helmErr  error
)

// EnsureHelm builds (once, into the tools cache) only Helm, for tests that
// need no node, and returns its path.
func EnsureHelm() (string, error) {
	helmOnce.Do(func() {
		var kv map[string]string
		if kv, helmErr = buildScript("helm"); helmErr == nil {
			if helmBin = kv["HELM_BIN"]; helmBin == "" {
				helmErr = fmt.Errorf("test/tools/build.sh helm printed no HELM_BIN: %v", kv)
			}
		}
	})
	return helmBin, helmErr
}

// buildScript runs test/tools/build.sh for target and returns the KEY=VALUE
// lines it printed.
func buildScript(target string) (map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(root, "test", "tools", "build.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script, target)
	cmd.Stdout = &stdout
	// A cold build runs for minutes: let people see its progress live.
	cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running %s %s: %w\n%s", script, target, err, tail(stderr.String(), 40))
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv, nil
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
