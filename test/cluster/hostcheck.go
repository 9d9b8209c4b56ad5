package cluster

import (
	"os"
	"os/exec"
	"strings"
)

// HostListing lists the host directories the node and mesh-cni may write,
// for a before/after comparison: a run that leaves the host as it found it
// gives the same string.
func HostListing() string {
	var b strings.Builder
	for _, d := range hostDirs {
		b.WriteString(d + dirListing(d) + " ")
	}
	return b.String()
}

// dirListing names the files of dir, or says it is absent.
func dirListing(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return "[" + strings.Join(names, " ") + "]"
}

// Leftovers lists whatever a node made that is still on the machine: state
// directories, links, iptables rules, mounts and host processes. Empty after
// a complete TearDownNode.
func Leftovers() []string {
	var left []string
	for _, p := range []string{NodeStateDir, nodeRunDir, CNIConfFile} {
		if _, err := os.Stat(p); err == nil {
			left = append(left, "file "+p)
		}
	}
	for _, l := range []string{nodeBridge, podBridge} {
		if linkExists(l) {
			left = append(left, "link "+l)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output(); strings.Contains(string(out), podBridge) {
		left = append(left, "veths on "+podBridge)
	}
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		out, _ := exec.Command(bin).Output()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "KUBE-") || strings.Contains(line, "CNI-HOSTPORT") {
				left = append(left, bin+": "+line)
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, NodeStateDir) || strings.Contains(line, nodeRunDir) {
			left = append(left, "mount "+line)
		}
	}
	return append(left, strayHostProcesses()...)
}
