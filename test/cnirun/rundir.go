package cnirun

import (
	"os"
	"path/filepath"

	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

// LeaveRunDirAsFound notes whether the plugin's run dir exists (the plugin
// makes it for its lock directory when it runs on the host) and returns a
// function that removes it again, if empty, when it was not there before:
// harnesses leave the host as they found it.
func LeaveRunDirAsFound() func() {
	runDir := filepath.Dir(apply.DefaultLockDir)
	if _, err := os.Stat(runDir); err == nil {
		return func() {}
	}
	return func() { os.Remove(runDir) }
}
