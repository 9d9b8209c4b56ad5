// Command localnode brings up (or tears down) the single-node Kubernetes of
// package test/cluster on this machine, for people: the same node the e2e
// suites use, left running until `localnode down`.
//
//	go run ./test/cluster/cmd/localnode up     # prints export KUBECONFIG=...
//	go run ./test/cluster/cmd/localnode down
//
// It must run as root. Binaries come from test/tools/build.sh (run on demand).
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: localnode up|down")
		os.Exit(2)
	}
	logf := func(format string, args ...any) { slog.Info(fmt.Sprintf(format, args...)) }
	start := time.Now()
	switch os.Args[1] {
	case "up":
		n, err := cluster.BringUpNode(logf)
		if err != nil {
			slog.Error("bringing up the node failed; tearing down", "err", err)
			if derr := cluster.TearDownNode(logf); derr != nil {
				slog.Error("tear-down", "err", derr)
			}
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "node %s Ready in %.1fs; pods: imagePullPolicy: Never, image %s; logs in %s/logs\n",
			n.Name, time.Since(start).Seconds(), cluster.AppImage, cluster.NodeStateDir)
		fmt.Printf("export KUBECONFIG=%s\n", n.AdminKubeconfig)
	case "down":
		if err := cluster.TearDownNode(logf); err != nil {
			slog.Error("tear-down incomplete", "err", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "down in %.1fs\n", time.Since(start).Seconds())
	}
}
