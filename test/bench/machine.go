package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// machine is what the page records about where the figures come from.
type machine struct {
	cores     int
	cpu       string
	memory    string
	kernel    string
	distro    string
	iptables  string // `iptables --version`: the host's default backend
	legacy    string // `iptables-legacy --version`
	goVersion string
	commit    string
	loadavg   string
}

// describeMachine reads /proc, uname, the iptables programs and git.
func describeMachine() (machine, error) {
	m := machine{cores: runtime.NumCPU(), goVersion: runtime.Version()}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return m, fmt.Errorf("uname: %w", err)
	}
	m.kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	m.cpu = procField("/proc/cpuinfo", "model name", ":")
	m.memory = procField("/proc/meminfo", "MemTotal", ":")
	m.distro = strings.Trim(procField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	m.iptables = commandLine("iptables", "--version")
	m.legacy = commandLine("iptables-legacy", "--version")
	m.loadavg = loadAvg()
	m.commit = commandLine("git", "rev-parse", "--short=12", "HEAD")
	// Uncommitted changes under the measured code make the commit a lie;
	// say so rather than hide it.
	if out := commandLine("git", "status", "--porcelain", "--", "cmd", "internal", "test/bench", "test/cnirun", "go.mod"); out != "" && out != "?" {
		m.commit += " (with uncommitted changes)"
	}
	return m, nil
}

// procField is the value of the first "key<sep>value" line of a file.
func procField(path, key, sep string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, sep); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// commandLine is a program's first output line, or "?".
func commandLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// loadAvg is the 1, 5 and 15 minute load averages: how busy the machine
// was besides this run.
func loadAvg() string {
	load, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if err != nil || len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
