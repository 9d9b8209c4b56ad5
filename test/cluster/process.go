package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is one long-running process, in a process group of its own so that
// stopping it also stops whatever it forked.
type daemon struct {
	name    string
	argv    []string
	env     []string // added to the environment
	logPath string
	pidPath string
	// outlive lets the process survive the Go process (localnode up); otherwise
	// it gets SIGKILL when we die, so a timed-out test leaves nothing behind.
	outlive bool

	pid  int
	done chan struct{} // closed when our child exits; nil when adopted from a pidfile
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// spawner starts children from one OS thread that never exits: Pdeathsig fires
// when the *thread* that forked the child exits, and Go retires threads that a
// goroutine left locked (as netns code does).
var spawner = sync.OnceValue(func() chan spawnReq {
	ch := make(chan spawnReq)
	go func() {
		runtime.LockOSThread()
		for r := range ch {
			r.err <- r.cmd.Start()
		}
	}()
	return ch
})

func (d *daemon) start() error {
	if err := os.MkdirAll(filepath.Dir(d.logPath), 0o755); err != nil {
		return fmt.Errorf("starting %s: %w", d.name, err)
	}
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting %s: %w", d.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(d.argv, " "))
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !d.outlive {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	req := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawner() <- req
	if err := <-req.err; err != nil {
		return fmt.Errorf("starting %s: %w", d.name, err)
	}
	d.pid = cmd.Process.Pid
	d.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(d.done)
	if d.pidPath != "" {
		// The binary's path lets a later run check that the pid was not reused.
		line := fmt.Sprintf("%d %s\n", d.pid, d.argv[0])
		if err := os.WriteFile(d.pidPath, []byte(line), 0o644); err != nil {
			return fmt.Errorf("starting %s: writing pidfile: %w", d.name, err)
		}
	}
	return nil
}

// adoptPidfile returns a daemon for the process named in a pidfile written by
// another run, if that pid still runs the binary recorded there (pids get
// reused), else nil.
func adoptPidfile(path string) *daemon {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pidStr, exe, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 1 || exe == "" {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.HasPrefix(string(cmdline), exe+"\x00") {
		return nil
	}
	return &daemon{name: filepath.Base(exe), argv: []string{exe}, pid: pid, pidPath: path}
}

// exited reports whether the process is gone (or a zombie we do not own).
func (d *daemon) exited() bool {
	if d.pid == 0 {
		return true
	}
	if d.done != nil {
		select {
		case <-d.done:
			return true
		default:
			return false
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name, which may hold spaces.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] == 'Z'
	}
	return false
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits until the leader is gone: a successor must not race it for ports,
// sockets or a boltdb lock.
func (d *daemon) stop(grace time.Duration) error {
	if d.exited() {
		d.removePidfile()
		return nil
	}
	_ = syscall.Kill(-d.pid, syscall.SIGTERM)
	if !d.waitExit(grace) {
		_ = syscall.Kill(-d.pid, syscall.SIGKILL)
		if !d.waitExit(10 * time.Second) {
			return fmt.Errorf("stopping %s: pid %d still there after SIGKILL", d.name, d.pid)
		}
	}
	// Whatever the leader left in its group goes too.
	_ = syscall.Kill(-d.pid, syscall.SIGKILL)
	d.removePidfile()
	return nil
}

func (d *daemon) removePidfile() {
	if d.pidPath != "" {
		_ = os.Remove(d.pidPath)
	}
}

func (d *daemon) waitExit(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !d.exited() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// errExited is returned by waitUntil when the daemon died while we waited.
var errExited = errors.New("process exited")

// waitUntil polls ready until it returns nil, the daemon exits or timeout
// passes; errors carry the daemon's log tail so failures explain themselves.
func (d *daemon) waitUntil(timeout time.Duration, what string, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if d.exited() {
			err = errExited
		} else if time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		return fmt.Errorf("waiting for %s %s: %w\n--- %s log (%s), last lines:\n%s",
			d.name, what, err, d.name, d.logPath, fileTail(d.logPath, 40))
	}
}
