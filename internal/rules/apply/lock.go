package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLockDir holds mesh-cni's per-netns lock files.
const DefaultLockDir = "/run/mesh-cni/xtables"

// lockTimeout bounds the wait for another mesh-cni working on the same
// netns; a CNI ADD must fail with a clear message rather than hang.
const lockTimeout = 30 * time.Second

// netnsLock serialises mesh-cni's read-compare-write cycles on one netns
// and names the file iptables-legacy locks instead of /run/xtables.lock.
// The lock file also holds the nsswitch.conf the programs see
// (writeNSSwitch in apply_exec.go); flock ignores what a file holds.
//
// Two files, because iptables opens its lock file by path and flock()s
// its own open file: were it ours too, iptables would wait for us forever.
type netnsLock struct {
	file     *os.File
	xtables  string // value of XTABLES_LOCKFILE for the programs we run
	netnsIno uint64
}

// lockNetns takes the lock of the calling thread's network namespace. The
// files are named after the namespace's inode, as Istio names its own: the
// inode identifies the namespace for as long as it exists, which is as long
// as anybody can be applying rules in it.
//
// iptables-legacy (1.8.6 and later, so Debian 12's 1.8.9) flocks the file
// named by XTABLES_LOCKFILE, else /run/xtables.lock, which the host's own
// iptables users (kube-proxy, the primary CNI, firewalld) hold for seconds
// at a time; a pod's namespace has tables of its own, so the host's lock
// protects nothing there and would only make pod start-up wait on the host.
// iptables-nft takes no lock: nf_tables transactions are atomic.
//
// The holder removes the files (and the directory, when empty) before it
// unlocks, so nothing is left between ADDs and an uninstall leaves nothing
// behind. Deleting a lock file
// another mesh-cni has opened would let both hold "the" lock, so a waiter
// checks, once it has the flock, that its file is still the one at the
// path, and starts again with a new one if not.
func lockNetns(dir string, netns *os.File) (*netnsLock, error) {
	if dir == "" {
		dir = DefaultLockDir
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(netns.Fd()), &st); err != nil {
		return nil, fmt.Errorf("identify network namespace: %w", err)
	}
	base := filepath.Join(dir, fmt.Sprintf("netns-%d", st.Ino))
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("lock directory: %w", err)
		}
		f, err := os.OpenFile(base+".lock", os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, fs.ErrNotExist) && attempt < 100 {
			// Another mesh-cni removed the directory, empty, as it
			// unlocked (see unlock); make it again.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lock file: %w", err)
		}
		if err := flockTimeout(f, lockTimeout); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		// The holder before us removes the file before it unlocks (so no
		// file outlives its namespace); a lock on a file no longer at the
		// path protects nothing, so start again with a new one.
		if samePath(f) {
			return &netnsLock{file: f, xtables: base + ".xtables.lock", netnsIno: st.Ino}, nil
		}
		f.Close()
	}
}

// samePath reports whether f is still the file at its path.
func samePath(f *os.File) bool {
	var held, onDisk unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(f.Name(), &onDisk) != nil {
		return false
	}
	return held.Ino == onDisk.Ino && held.Dev == onDisk.Dev
}

// flockTimeout polls a non-blocking flock: a blocking one could not be
// given up after a timeout.
func flockTimeout(f *os.File, d time.Duration) error {
	deadline := time.Now().Add(d)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another mesh-cni has held it for %s", d)
		}
		time.Sleep(wait)
	}
}

// unlock removes both files and releases the lock. Removing them first
// keeps the lock directory as empty as the node was before mesh-cni came:
// a waiter that opened the old file notices (samePath) and makes a new one.
func (l *netnsLock) unlock() {
	os.Remove(l.xtables)
	os.Remove(l.file.Name())
	// Closing the file releases the flock.
	l.file.Close()
	// The directory goes too when no other namespace is being worked on
	// (it fails, harmlessly, when one is), so that nothing of mesh-cni's
	// stays on the node between ADDs or after an uninstall.
	os.Remove(filepath.Dir(l.file.Name()))
}
