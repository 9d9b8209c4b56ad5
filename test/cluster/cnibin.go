package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CNIBinDir is where the node's containerd looks for CNI plugins: the
// standard host path, because deploy/'s DaemonSet mounts exactly that and is
// applied unchanged. StartNode puts the primary plugins here; tear-down takes
// out exactly what the node put there and leaves the directory as it was.
const CNIBinDir = "/opt/cni/bin"

// nodeCNIPlugins are the plugins the node's primary network uses.
var nodeCNIPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// strayPlugins are files the suites' installer puts into CNIBinDir and
// normally removes itself; after a failed run tear-down removes them too.
var strayPlugins = []string{"mesh-cni"}

// cniBinRecord is what StartNode changed in CNIBinDir, written before it
// changes anything so tear-down after a crash knows what to undo.
type cniBinRecord struct {
	// CreatedDirs are directories that did not exist, outermost first.
	CreatedDirs []string `json:"createdDirs"`
	// Placed are the plugin files the node put into CNIBinDir.
	Placed []string `json:"placed"`
	// Saved are files that were in CNIBinDir before (same names as ours, or
	// strays): moved to savedCNIBinDir and put back at tear-down.
	Saved []string `json:"saved"`
	// MeshCNIRunDirAbsent: meshCNIRunDir was not there, so the DaemonSet's
	// hostPath volume created it during the run.
	MeshCNIRunDirAbsent bool `json:"meshCNIRunDirAbsent"`
}

// meshCNIRunDir is the host directory deploy/'s DaemonSet mounts for the
// plugin's kubeconfig (hostPath /var/run/mesh-cni, DirectoryOrCreate).
const meshCNIRunDir = "/run/mesh-cni"

var (
	cniBinRecordFile = filepath.Join(NodeStateDir, "cni-bin.json")
	savedCNIBinDir   = filepath.Join(NodeStateDir, "cni-bin-saved")
)

// placeCNIPlugins copies the primary plugins from srcDir into CNIBinDir,
// setting aside any file already there under those names (and any stray, so
// that one left by someone else is not mistaken for the installer's).
func placeCNIPlugins(srcDir string) error {
	rec := cniBinRecord{Placed: nodeCNIPlugins}
	for _, d := range []string{filepath.Dir(CNIBinDir), CNIBinDir} {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			rec.CreatedDirs = append(rec.CreatedDirs, d)
		}
	}
	if _, err := os.Stat(meshCNIRunDir); os.IsNotExist(err) {
		rec.MeshCNIRunDirAbsent = true
	}
	for _, name := range append(append([]string{}, nodeCNIPlugins...), strayPlugins...) {
		if _, err := os.Lstat(filepath.Join(CNIBinDir, name)); err == nil {
			rec.Saved = append(rec.Saved, name)
		}
	}
	data, _ := json.Marshal(rec)
	if err := writeFiles(map[string]string{cniBinRecordFile: string(data)}); err != nil {
		return err
	}
	if err := os.MkdirAll(savedCNIBinDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", savedCNIBinDir, err)
	}
	for _, name := range rec.Saved {
		if err := os.Rename(filepath.Join(CNIBinDir, name), filepath.Join(savedCNIBinDir, name)); err != nil {
			return fmt.Errorf("setting aside %s/%s: %w", CNIBinDir, name, err)
		}
	}
	if err := os.MkdirAll(CNIBinDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", CNIBinDir, err)
	}
	for _, p := range nodeCNIPlugins {
		if err := copyFile(filepath.Join(srcDir, p), filepath.Join(CNIBinDir, p), 0o755); err != nil {
			return fmt.Errorf("installing CNI plugin %s into %s: %w", p, CNIBinDir, err)
		}
	}
	return nil
}

// restoreCNIBinDir undoes placeCNIPlugins from its record: removes the
// plugins it placed and any stray, puts back what it set aside, removes
// the directories it created if they are empty again, and mesh-cni's run
// directory if the run created it. Without a record (no
// node ran) it touches nothing.
func restoreCNIBinDir(logf func(string, ...any)) error {
	data, err := os.ReadFile(cniBinRecordFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", cniBinRecordFile, err)
	}
	var rec cniBinRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("parsing %s: %w", cniBinRecordFile, err)
	}
	var errs []error
	for _, name := range append(append([]string{}, rec.Placed...), strayPlugins...) {
		path := filepath.Join(CNIBinDir, name)
		if err := os.Remove(path); err == nil && contains(strayPlugins, name) {
			logf("tear-down: removed %s, left by the installer", path)
		} else if err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("removing %s: %w", path, err))
		}
	}
	for _, name := range rec.Saved {
		if err := os.Rename(filepath.Join(savedCNIBinDir, name), filepath.Join(CNIBinDir, name)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("putting back %s/%s: %w", CNIBinDir, name, err))
		}
	}
	for i := len(rec.CreatedDirs) - 1; i >= 0; i-- {
		// Only if empty: files someone else added since must stay.
		if err := os.Remove(rec.CreatedDirs[i]); err != nil && !os.IsNotExist(err) {
			logf("tear-down: leaving %s: %v", rec.CreatedDirs[i], err)
		}
	}
	if rec.MeshCNIRunDirAbsent {
		// The installer removes its kubeconfig on SIGTERM; a failed run may not have.
		if err := os.RemoveAll(meshCNIRunDir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", meshCNIRunDir, err))
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(cniBinRecordFile); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
