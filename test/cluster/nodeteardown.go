package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// nodeLockFile serialises nodes across processes; it lives outside the state
// dirs because tear-down removes those.
const nodeLockFile = "/run/mesh-cni-localnode.lock"

var (
	nodeLockMu   sync.Mutex
	nodeLockHeld int      // holders in this process
	nodeLockFD   *os.File // open while nodeLockHeld > 0
)

// lockNode takes the machine-wide node lock, waiting for another process that
// holds it. Within one process it nests: flock would deadlock a test calling
// TearDownNode while its StartNode holds the lock.
func lockNode(logf func(string, ...any)) (unlock func(), err error) {
	nodeLockMu.Lock()
	defer nodeLockMu.Unlock()
	if nodeLockHeld == 0 {
		f, err := os.OpenFile(nodeLockFile, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening node lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			logf("waiting for %s: another test or localnode run holds the node", nodeLockFile)
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				f.Close()
				return nil, fmt.Errorf("taking node lock: %w", err)
			}
		}
		nodeLockFD = f
	}
	nodeLockHeld++
	var once sync.Once
	return func() {
		once.Do(func() {
			nodeLockMu.Lock()
			defer nodeLockMu.Unlock()
			if nodeLockHeld--; nodeLockHeld == 0 {
				nodeLockFD.Close()
				nodeLockFD = nil
			}
		})
	}, nil
}

// createdDirMarkers maps the files in NodeStateDir that say "this directory
// was not there before the node" to the directory.
var createdDirMarkers = map[string]string{"created-cni-conf-dir": CNIConfDir, "created-etc-cni": filepath.Dir(CNIConfDir)}

// stopOrder is how tear-down stops the node's processes: consumers of the API
// and of containerd first, etcd last.
var stopOrder = []string{
	"kubelet.pid", "kube-proxy.pid", "kube-scheduler.pid", "kube-controller-manager.pid",
	"containerd.pid", "cp/kube-apiserver.pid", "cp/etcd.pid",
}

// TearDownNode removes everything a node (StartNode or BringUpNode) made,
// including after a crashed run: its processes and host processes (by
// pidfile), containers,
// mounts, cgroups, bridges and veths, iptables chains (KUBE-*, portmap's),
// its CNI config file, the plugins it put into CNIBinDir (and mesh-cni's
// binary and kubeconfig if an installer under test left them; files that were
// there before are put back; directories that were not are removed when
// empty), changed sysctls and its state directories. Pass a
// logger such as t.Logf or log.Printf.
func TearDownNode(logf func(string, ...any)) error {
	unlock, err := lockNode(logf)
	if err != nil {
		return err
	}
	defer unlock()
	return tearDown(logf)
}

func tearDown(logf func(string, ...any)) error {
	start := time.Now()
	_, statErr := os.Stat(NodeStateDir)
	existed := statErr == nil || linkExists(nodeBridge) || linkExists(podBridge)
	errs := stopHostProcesses()
	for _, name := range stopOrder {
		if d := adoptPidfile(filepath.Join(NodeStateDir, name)); d != nil {
			if err := d.stop(10 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	killShims(containerdAddress, logf)
	killStrays(logf)
	unmountUnder([]string{NodeStateDir, nodeRunDir}, logf)
	removeKubepodsCgroups(logf)
	tearDownLinks(logf)
	cleanIPTables(logf)
	if err := os.Remove(CNIConfFile); err != nil && !os.IsNotExist(err) {
		errs = append(errs, fmt.Errorf("removing %s: %w", CNIConfFile, err))
	}
	for _, marker := range []string{"created-cni-conf-dir", "created-etc-cni"} { // innermost first
		if _, err := os.Stat(filepath.Join(NodeStateDir, marker)); err == nil {
			_ = os.Remove(createdDirMarkers[marker]) // only if empty: someone else may have added files since
		}
	}
	restoreSysctls(filepath.Join(NodeStateDir, "sysctl.saved"), logf)
	if err := restoreHostFiles(logf); err != nil {
		// The state dir holds the files set aside: keep it.
		return errors.Join(append(errs, fmt.Errorf("restoring host files (state kept in %s): %w", NodeStateDir, err))...)
	}
	for _, d := range []string{NodeStateDir, nodeRunDir} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", d, err))
		}
	}
	if existed {
		logf("node torn down in %.1fs", time.Since(start).Seconds())
	}
	return errors.Join(errs...)
}
