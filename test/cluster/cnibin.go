package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

// CNIBinDir is where the node's containerd looks for CNI plugins: the
// standard host path, because deploy/'s DaemonSet mounts exactly that and is
// applied unchanged. StartNode puts the primary plugins here; tear-down takes
// out exactly what the node put there and leaves the directory as it was.
const CNIBinDir = "/opt/cni/bin"

// nodeCNIPlugins are the plugins the node's primary network uses.
var nodeCNIPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// meshCNIRunDir is the host directory deploy/'s DaemonSet mounts for its
// node agent's socket (hostPath /var/run/mesh-cni, DirectoryOrCreate); the
// plugin keeps its per-netns lock files in its xtables subdirectory.
const meshCNIRunDir = "/run/mesh-cni"

// strays are files an installer under test, or the plugin it installs,
// puts on the host and the installer removes when it stops cleanly; after
// a failed run, or a tear-down that kills the node without stopping it,
// tear-down removes them. The plugin records its netlink writer's
// comparison (apply.WireFiles).
var strays = append([]string{filepath.Join(CNIBinDir, "mesh-cni"), filepath.Join(meshCNIRunDir, "agent.sock")},
	apply.WireFiles(meshCNIRunDir)...)

// journalDir is the plugin's journal of the pods it set up.
var journalDir = filepath.Join(meshCNIRunDir, journal.DirName)

// hostDirs are the host directories the node, the installer or the plugin
// may create; tear-down removes those that were not there before, if empty.
var hostDirs = []string{filepath.Dir(CNIBinDir), CNIBinDir, meshCNIRunDir, filepath.Join(meshCNIRunDir, "xtables")}

// hostRecord is what StartNode found on the host outside its own
// directories, written before it changes anything so tear-down after a crash
// knows what to undo.
type hostRecord struct {
	// CreatedDirs are hostDirs that did not exist, outermost first.
	CreatedDirs []string `json:"createdDirs"`
	// Placed are the files the node put there.
	Placed []string `json:"placed"`
	// Saved are files that were there before under the names of Placed or
	// strays: moved into savedDir and put back at tear-down.
	Saved []string `json:"saved"`
}

var (
	hostRecordFile = filepath.Join(NodeStateDir, "host-files.json")
	savedDir       = filepath.Join(NodeStateDir, "host-files-saved")
)

// savedPath is where a set-aside file waits for tear-down.
func savedPath(path string) string {
	return filepath.Join(savedDir, strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "__"))
}

// placeCNIPlugins copies the primary plugins from srcDir into CNIBinDir,
// setting aside any file already there under those names, and any stray (so
// one left by someone else is neither lost nor mistaken for the installer's).
func placeCNIPlugins(srcDir string) error {
	var rec hostRecord
	for _, p := range nodeCNIPlugins {
		rec.Placed = append(rec.Placed, filepath.Join(CNIBinDir, p))
	}
	for _, d := range hostDirs {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			rec.CreatedDirs = append(rec.CreatedDirs, d)
		}
	}
	for _, path := range append(append([]string{}, rec.Placed...), strays...) {
		if _, err := os.Lstat(path); err == nil {
			rec.Saved = append(rec.Saved, path)
		}
	}
	data, _ := json.Marshal(rec)
	if err := writeFiles(map[string]string{hostRecordFile: string(data)}); err != nil {
		return err
	}
	if err := os.MkdirAll(savedDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", savedDir, err)
	}
	for _, path := range rec.Saved {
		if err := os.Rename(path, savedPath(path)); err != nil {
			return fmt.Errorf("setting aside %s: %w", path, err)
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

// restoreHostFiles undoes placeCNIPlugins from its record: removes the
// plugins it placed and any stray, puts back what it set aside and removes
// the directories that were not there before, if they are empty again.
// Without a record (no node ran) it touches nothing.
func restoreHostFiles(logf func(string, ...any)) error {
	data, err := os.ReadFile(hostRecordFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", hostRecordFile, err)
	}
	var rec hostRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("parsing %s: %w", hostRecordFile, err)
	}
	var errs []error
	for _, path := range append(append([]string{}, rec.Placed...), strays...) {
		if err := os.Remove(path); err == nil && contains(strays, path) {
			logf("tear-down: removed %s, left by the installer under test", path)
		} else if err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("removing %s: %w", path, err))
		}
	}
	// The plugin's journal of set-up pods (internal/journal), which the
	// installer removes when it uninstalls.
	if _, err := os.Stat(journalDir); err == nil {
		if err := os.RemoveAll(journalDir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", journalDir, err))
		} else {
			logf("tear-down: removed %s, left by the installer under test", journalDir)
		}
	}
	for _, path := range rec.Saved {
		if err := os.Rename(savedPath(path), path); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("putting back %s: %w", path, err))
		}
	}
	for i := len(rec.CreatedDirs) - 1; i >= 0; i-- {
		// Only if empty: files someone else added since must stay.
		if err := os.Remove(rec.CreatedDirs[i]); err != nil && !os.IsNotExist(err) {
			logf("tear-down: leaving %s: %v", rec.CreatedDirs[i], err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(hostRecordFile); err != nil && !os.IsNotExist(err) {
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
