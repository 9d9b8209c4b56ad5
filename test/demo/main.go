// Command demo is `make demo` and `make demo-down` (root): it starts
// test/cluster's single node on this machine (or reuses the one an earlier
// run left), installs mesh-cni from deploy/ as is and OSM v1.2.4's own
// injector, creates meshed pods as a user would and shows what mesh-cni did
// to them, each step headed by one line saying what it shows and why.
//
//	go run ./test/demo up     # make demo: idempotent; the node keeps running
//	go run ./test/demo down   # make demo-down: the host as it was before
//
// Ctrl-C tears down a node this run started; a node an earlier run started
// stays up, and the demo says how to stop it. Lines starting with "$ " are
// the commands it runs, which a person can run again with the printed
// KUBECONFIG.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: demo up|down")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "make demo starts a Kubernetes node on this machine (containerd, kubelet, iptables): run it as root")
		os.Exit(1)
	}
	var err error
	if os.Args[1] == "up" {
		err = up()
	} else {
		err = down()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nmake demo%s: FAILED: %v\n", map[string]string{"up": "", "down": "-down"}[os.Args[1]], err)
		os.Exit(1)
	}
}

// down is make demo-down: test/cluster's tear-down (every process, the OSM
// injector included, containers, mounts, links, iptables chains, CNI files
// and sysctls), then its host checks.
func down() error {
	start := time.Now()
	if err := cluster.TearDownNode(logf); err != nil {
		return fmt.Errorf("tearing down the node: %w", err)
	}
	if left := cluster.Leftovers(); len(left) > 0 {
		return fmt.Errorf("left on the host after tear-down:\n%s", strings.Join(left, "\n"))
	}
	fmt.Printf("make demo-down: no node left on this machine, the host as it was (%.1fs)\n", time.Since(start).Seconds())
	return nil
}

// logf prints test/cluster's progress lines.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
}
