package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostProcGlob matches the pidfiles of HostProcesses; tear-down stops them
// before the node's own processes, since they are the API's clients.
var hostProcGlob = filepath.Join(NodeStateDir, "host-*.pid")

// HostProcess is a process run on this machine beside the node, such as
// OSM's injector: its log is NodeStateDir/logs/NAME.log, and TearDownNode
// stops it with the node, whoever started it.
type HostProcess struct{ d *daemon }

// StartHostProcess starts argv as the host process name. With outlive it
// survives the caller (make demo); otherwise it dies with the caller's
// process, like a test's node. The node's state directory must exist.
func StartHostProcess(name string, outlive bool, env []string, argv ...string) (*HostProcess, error) {
	if _, err := os.Stat(NodeStateDir); err != nil {
		return nil, fmt.Errorf("starting %s beside the node: %w", name, err)
	}
	d := &daemon{name: name, argv: argv, env: env, outlive: outlive,
		logPath: LogPath(name), pidPath: filepath.Join(NodeStateDir, "host-"+name+".pid")}
	if err := d.start(); err != nil {
		return nil, err
	}
	return &HostProcess{d: d}, nil
}

// RunningHostProcess returns the host process name that an earlier run
// started, if it still runs.
func RunningHostProcess(name string) (*HostProcess, bool) {
	d := adoptPidfile(filepath.Join(NodeStateDir, "host-"+name+".pid"))
	if d == nil || d.exited() {
		return nil, false
	}
	d.name, d.logPath = name, LogPath(name)
	return &HostProcess{d: d}, true
}

// Stop stops the process (SIGTERM, then SIGKILL) and waits until it is gone.
func (p *HostProcess) Stop() error { return p.d.stop(10 * time.Second) }

// Exited reports whether the process is gone.
func (p *HostProcess) Exited() bool { return p.d.exited() }

// Pid is the process's id.
func (p *HostProcess) Pid() int { return p.d.pid }

// LogTail returns the last n lines of the process's log.
func (p *HostProcess) LogTail(n int) string { return fileTail(p.d.logPath, n) }

// stopHostProcesses stops every host process a pidfile names.
func stopHostProcesses() []error {
	var errs []error
	files, _ := filepath.Glob(hostProcGlob)
	for _, f := range files {
		if d := adoptPidfile(f); d != nil {
			if err := d.stop(10 * time.Second); err != nil {
				errs = append(errs, err)
			}
		} else {
			_ = os.Remove(f)
		}
	}
	return errs
}

// killStrays kills what still names the node's directories once its
// daemons are gone: clients such as a ctr or kubectl a caller started while
// the node went away, which would otherwise wait on it forever.
func killStrays(logf func(string, ...any)) {
	for _, pid := range strayPids() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			logf("tear-down: killed process %d, a client of the node", pid)
		}
	}
}

// strayHostProcesses lists processes whose command line names the node's
// state or run directory: after tear-down there must be none.
func strayHostProcesses() []string {
	var left []string
	for _, pid := range strayPids() {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		left = append(left, fmt.Sprintf("process %d: %.200s", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return left
}

// strayPids are the live processes (this one aside) whose command line
// names NodeStateDir or nodeRunDir.
func strayPids() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !procAlive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), NodeStateDir) || strings.Contains(string(cmdline), nodeRunDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}
