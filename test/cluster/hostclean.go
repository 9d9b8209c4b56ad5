package cluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killShims kills every containerd shim serving our containerd socket, with
// all its descendants (the containers), even when containerd itself is gone.
func killShims(address string, logf func(string, ...any)) {
	children := map[int][]int{}
	var shims []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid := procPPID(pid); ppid > 0 {
			children[ppid] = append(children[ppid], pid)
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && strings.Contains(filepath.Base(args[0]), "containerd-shim") && containsArg(args, address) {
			shims = append(shims, pid)
		}
	}
	var victims []int
	var walk func(int)
	walk = func(p int) {
		victims = append(victims, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, s := range shims {
		walk(s)
	}
	for _, p := range victims {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range victims {
		for procAlive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(shims) > 0 {
		logf("tear-down: killed %d shims and %d container processes", len(shims), len(victims)-len(shims))
	}
}

func containsArg(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

func procPPID(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procAlive reports whether pid exists and is not a zombie.
func procAlive(pid int) bool {
	d := daemon{pid: pid}
	return !d.exited()
}

// unmountUnder detaches every mount point at or below the given directories,
// deepest first (kubelet bind-mounts its root dir; containerd mounts rootfs
// overlays, shm and network namespaces under its state dir).
func unmountUnder(dirs []string, logf func(string, ...any)) {
	for pass := 0; pass < 3; pass++ {
		var points []string
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			logf("tear-down: %v", err)
			return
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 5 {
				continue
			}
			mp := unescapeMount(fields[4])
			for _, d := range dirs {
				if mp == d || strings.HasPrefix(mp, d+"/") {
					points = append(points, mp)
				}
			}
		}
		f.Close()
		if len(points) == 0 {
			return
		}
		sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
		for _, p := range points {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && pass == 2 {
				logf("tear-down: umount %s: %v", p, err)
			}
		}
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space and so on).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeKubepodsCgroups removes the cgroups kubelet made (cgroupfs driver),
// deepest first; a cgroup with processes left in it stays and is reported.
func removeKubepodsCgroups(logf func(string, ...any)) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	if unified, _ := filepath.Glob("/sys/fs/cgroup/kubepods*"); len(unified) > 0 {
		roots = append(roots, unified...)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && d == root {
				logf("tear-down: removing cgroup %s: %v", d, err)
			}
		}
	}
}
