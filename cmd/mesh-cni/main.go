// Command mesh-cni is the chained CNI plugin. Run by a container runtime
// (CNI_COMMAND set) it speaks the CNI protocol; run by a person it is a
// small CLI that renders the rules mesh-cni would install.
package main

import (
	"os"

	"github.com/mesh-cni/mesh-cni/pkg/cni"
)

func main() {
	if os.Getenv("CNI_COMMAND") != "" {
		cni.Main()
		return
	}
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}
