package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Host network objects the node owns. Names are ours alone, so tear-down can
// delete them without asking who made them.
const (
	nodeBridge = "meshnode0" // carries nodeIP
	podBridge  = "meshcni0"  // made by the bridge CNI plugin
)

// run runs a command and returns its combined output, failing with it.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// setUpNodeNetwork gives the node its address on a bridge of its own and sends
// the service range there too, so service traffic that kube-proxy does not
// translate dies on that bridge instead of following a default route out.
func setUpNodeNetwork() error {
	if !linkExists(nodeBridge) {
		if _, err := run("ip", "link", "add", nodeBridge, "type", "bridge"); err != nil {
			return fmt.Errorf("creating node bridge: %w", err)
		}
	}
	steps := [][]string{
		{"addr", "replace", nodeIP.String() + "/32", "dev", nodeBridge},
		{"link", "set", nodeBridge, "up"},
		{"route", "replace", serviceCIDR, "dev", nodeBridge},
	}
	for _, s := range steps {
		if _, err := run("ip", s...); err != nil {
			return fmt.Errorf("setting up node network: %w", err)
		}
	}
	return nil
}

// tearDownLinks deletes the bridges and any veth still enslaved to the pod
// bridge (their netns should be gone, taking the veths with them).
func tearDownLinks(logf func(string, ...any)) {
	if linkExists(podBridge) {
		if out, err := run("ip", "-o", "link", "show", "master", podBridge); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) > 1 {
					name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
					// A veth goes with its pod's netns, possibly while we list them.
					if _, err := run("ip", "link", "del", name); err != nil && linkExists(name) {
						logf("tear-down: %v", err)
					}
				}
			}
		}
	}
	for _, l := range []string{podBridge, nodeBridge} {
		if linkExists(l) {
			if _, err := run("ip", "link", "del", l); err != nil {
				logf("tear-down: %v", err)
			}
		}
	}
}

// ownedChain says whether an iptables chain was made by kube-proxy, kubelet
// or the portmap plugin of our node.
func ownedChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-HOSTPORT-") || strings.HasPrefix(name, "CNI-DN-")
}

// cleanIPTables removes the jumps into our chains from the built-in chains,
// then flushes and deletes our chains, in every table, for IPv4 and IPv6.
func cleanIPTables(logf func(string, ...any)) {
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := run(bin, "-w", "-t", table, "-S")
			if err != nil {
				continue
			}
			var chains []string
			for _, line := range strings.Split(out, "\n") {
				f := rules.SplitArgs(line)
				switch {
				case len(f) >= 2 && f[0] == "-N" && ownedChain(f[1]):
					chains = append(chains, f[1])
				case len(f) >= 2 && f[0] == "-A" && !ownedChain(f[1]) && jumpsToOwned(f):
					// -S prints rules in a form -D accepts back.
					if _, err := run(bin, append([]string{"-w", "-t", table, "-D"}, f[1:]...)...); err != nil {
						logf("tear-down: %v", err)
					}
				}
			}
			for _, op := range []string{"-F", "-X"} {
				for _, c := range chains {
					if _, err := run(bin, "-w", "-t", table, op, c); err != nil {
						logf("tear-down: %v", err)
					}
				}
			}
		}
	}
}

func jumpsToOwned(fields []string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && ownedChain(fields[i+1]) {
			return true
		}
	}
	return false
}

// kernelSysctls are the knobs kubelet (protectKernelDefaults: false), kube-proxy
// and the bridge plugin change machine-wide; tear-down puts them back.
var kernelSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet",
}

// saveSysctls records current values unless an earlier run already did (then
// those are the machine's own values, not ours).
func saveSysctls(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	var b strings.Builder
	for _, k := range kernelSysctls {
		v, err := os.ReadFile("/proc/sys/" + k)
		if err == nil {
			fmt.Fprintf(&b, "%s=%s\n", k, strings.TrimSpace(string(v)))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("saving sysctls: %w", err)
	}
	return nil
}

func restoreSysctls(path string, logf func(string, ...any)) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if cur, err := os.ReadFile("/proc/sys/" + k); err == nil && strings.TrimSpace(string(cur)) == v {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			logf("tear-down: restoring %s=%s: %v", k, v, err)
		}
	}
}
