package rules

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// commandTimeout bounds one iptables program; they take milliseconds, and a
// hung one must not hold a pod's sandbox creation forever.
const commandTimeout = time.Minute

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

// inNetns runs f on a fresh OS thread that has joined the calling thread's
// network namespace and a private mount namespace in which
// /etc/nsswitch.conf is minimalNSSwitch. Programs f starts inherit both.
//
// A new thread, because unsharing the mount namespace cannot be undone:
// the thread is never unlocked, so the Go runtime ends it when f returns
// instead of handing a thread with odd namespaces to other goroutines.
// The caller's thread, which may be unlocked and reused after we return,
// is left as it was.
func inNetns(lockDir string, f func() error) error {
	netns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer netns.Close()
	nss, nssErr := writeNSSwitch(lockDir)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(netns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		if nssErr == nil && isolateNSSwitch {
			nssErr = isolateNSS(nss)
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

// isolateNSS gives the calling thread a mount namespace of its own with
// minimalNSSwitch over /etc/nsswitch.conf. Mounts are made slaves first so
// that the bind mount cannot propagate back to the host. It costs well
// under a millisecond (see BenchmarkInstall's figures).
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

// writeNSSwitch puts minimalNSSwitch into the lock directory once; a
// bind mount needs a file to show.
func writeNSSwitch(dir string) (string, error) {
	if dir == "" {
		dir = DefaultLockDir
	}
	p := filepath.Join(dir, "nsswitch.conf")
	if b, err := os.ReadFile(p); err == nil && string(b) == minimalNSSwitch {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".nsswitch-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(minimalNSSwitch); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(tmp.Name(), p)
}

// proc is an iptables program started and not yet waited for.
type proc struct {
	what   string // "iptables-save (nft, IPv4)"
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  string
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// start starts an iptables program from the calling (worker) thread, so
// that it runs in that thread's namespaces.
func start(b Backend, fam Family, t tool, env []string, stdin string, args ...string) (*proc, error) {
	p := &proc{what: fmt.Sprintf("%s (%s, %s)", command(fam, t), b, fam), stdin: stdin}
	path, err := toolPath(b, fam, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	p.cancel = cancel
	p.cmd = exec.CommandContext(ctx, path, args...)
	p.cmd.Env = env
	p.cmd.Stdin = strings.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	return p, nil
}

// wait waits for the program; the error names it and carries its stderr.
func (p *proc) wait() (string, error) {
	defer p.cancel()
	if err := p.cmd.Wait(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", p.what, err, explain(p.stderr.String(), p.stdin))
	}
	return p.stdout.String(), nil
}

// errorLine is how iptables-restore points into its input.
var errorLine = regexp.MustCompile(`Error occurred at line: (\d+)`)

// explain puts iptables' stderr on one line and, where it names a line of
// the document it was fed, quotes that line: nobody reading a pod's events
// has the document at hand.
func explain(stderr, doc string) string {
	var parts []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Try `") {
			parts = append(parts, l)
		}
	}
	msg := strings.Join(parts, "; ")
	if m := errorLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if lines := strings.Split(doc, "\n"); n >= 1 && n <= len(lines) {
			msg += fmt.Sprintf(" (%q)", lines[n-1])
		}
	}
	return msg
}
