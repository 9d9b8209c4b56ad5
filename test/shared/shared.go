// Package shared finds the project's shared/ folder for tests: the
// reference strings, the upstream oracle and the seed guides that no one
// on the project wrote, kept beside the repository rather than in it.
package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// Env names the variable that, when set, is the shared/ folder.
const Env = "MESH_CNI_SHARED"

// Dir is the shared/ folder: where MESH_CNI_SHARED says, or beside the
// repository (the folder holding go.mod, found upwards from the test's
// package), as CI lays it out.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(Env); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory: cannot find shared/ (set %s)", Env)
		}
		dir = parent
	}
}
