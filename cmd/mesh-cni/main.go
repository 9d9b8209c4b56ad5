// The plugin's process lives a few milliseconds, so keeping GOMAXPROCS in
// step with the cgroup's CPU limit (Go 1.25: the limit files stay open and
// sysmon and a goroutine of the runtime's re-check them) buys it nothing,
// and turning both off measurably shortens the skip path (medians of
// interleaved runs; see the commit that added this).
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command mesh-cni is the chained CNI plugin. Run by a container runtime
// (CNI_COMMAND set) it speaks the CNI protocol; run by a person it is a
// small CLI that renders the rules mesh-cni would install.
package main

import (
	"os"

	"github.com/mesh-cni/mesh-cni/internal/cni"
)

func main() {
	if os.Getenv("CNI_COMMAND") != "" {
		cni.Main()
		return
	}
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}
