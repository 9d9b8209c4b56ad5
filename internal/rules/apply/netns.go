package apply

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// minimalNSSwitch is what the iptables programs see as /etc/nsswitch.conf.
//
// libxt_owner parses `--uid-owner 1500` by calling getpwnam("1500") first
// and only then trying a number (iptables 1.8.9, owner_mt_parse; strace
// shows nscd's socket, /etc/nsswitch.conf, /etc/passwd and libnss_systemd
// being tried). Through the host's nsswitch.conf that lookup may ask
// systemd-userdbd, sssd, LDAP or NIS - from inside the pod's network
// namespace, which has no route to them yet: each restore would wait for
// their timeouts, and a directory that knows a user named "1500" would
// silently change the rule. Local files answer at once and, on a node, hold
// no user with a numeric name.
const minimalNSSwitch = "# mesh-cni: iptables runs with local user lookups only\npasswd: files\ngroup: files\n"

// nsswitchPath is where /etc/nsswitch.conf is looked for.
const nsswitchPath = "/etc/nsswitch.conf"

var isolationWarning sync.Once

// isolateNSSwitch is switched off only by the benchmark, to measure what
// the isolation costs.
var isolateNSSwitch = true

// inNetns runs f on a fresh OS thread that has joined the network
// namespace netns and a private mount namespace in which
// /etc/nsswitch.conf is minimalNSSwitch, written into nss (the netns lock
// file) and bound there. Programs f starts inherit both.
//
// A new thread, because unsharing the mount namespace cannot be undone:
// the thread is never unlocked, so the Go runtime ends it when f returns
// instead of handing a thread with odd namespaces to other goroutines.
// The caller's thread, which may be unlocked and reused after we return,
// is left as it was.
func inNetns(netns, nss *os.File, f func() error) error {
	nssErr := writeNSSwitch(nss)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer recoverInto(done)
		if err := unix.Setns(int(netns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		if nssErr == nil && isolateNSSwitch {
			nssErr = isolateNSS(nss.Name())
		}
		if nssErr != nil {
			isolationWarning.Do(func() {
				slog.Warn("mesh-cni: iptables will use the host's user lookups", "reason", nssErr)
			})
		}
		done <- f()
	}()
	return <-done
}

// recoverInto, deferred on inNetns' worker, sends a panic of f back as an
// error: the plugin's recover covers only the goroutine that called us,
// so a panic here would otherwise end the process with no CNI error. The
// thread stays locked, so the runtime discards it with its namespaces.
func recoverInto(done chan<- error) {
	if r := recover(); r != nil {
		done <- fmt.Errorf("internal error in the network namespace: panic: %v (stack: %s)", r, oneLine(debug.Stack()))
	}
}

// oneLine folds a goroutine stack into a single line, each frame's
// function and file together and frames apart, so that a log line, a CNI
// error and a pod event can each carry it whole.
func oneLine(stack []byte) string {
	s := strings.TrimSpace(string(stack))
	return strings.ReplaceAll(strings.ReplaceAll(s, "\n\t", " "), "\n", "; ")
}

// isolateNSS gives the calling thread a mount namespace of its own with
// minimalNSSwitch over /etc/nsswitch.conf. Mounts are made slaves first so
// that the bind mount cannot propagate back to the host. Its cost grows
// with the number of mounts on the node (BenchmarkNSSwitchIsolation).
func isolateNSS(src string) error {
	if _, err := os.Stat(nsswitchPath); err != nil {
		// Without the file, glibc already looks in local files only.
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount(src, nsswitchPath, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", nsswitchPath, err)
	}
	return nil
}

// writeNSSwitch puts minimalNSSwitch into f, which a bind mount then shows
// as /etc/nsswitch.conf. f is the netns lock file, already open and
// removed at unlock: a file of its own would cost a create, a write and a
// remove on every call, where this is one write. Nothing else reads the lock file's content; one that a
// killed mesh-cni left behind may hold anything, so a longer one is cut.
// Its mode, 0600, is no obstacle: the programs run as root, like us.
func writeNSSwitch(f *os.File) error {
	if _, err := f.WriteAt([]byte(minimalNSSwitch), 0); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > int64(len(minimalNSSwitch)) {
		return f.Truncate(int64(len(minimalNSSwitch)))
	}
	return nil
}
