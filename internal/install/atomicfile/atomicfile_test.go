package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesContentAndMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "10-net.conflist")
	tests := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"create", `{"a":1}`, 0o644},
		{"replace with narrower mode", `{"b":2}`, 0o600},
		{"replace with executable mode", "#!/bin/sh\n", 0o755},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Write(path, []byte(tc.data), tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.data {
				t.Errorf("content = %q, want %q", got, tc.data)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tc.mode {
				t.Errorf("mode = %v, want %v", st.Mode().Perm(), tc.mode)
			}
			assertNoTemp(t, dir)
		})
	}
}

func TestCopyAndDigest(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	dst := filepath.Join(dir, "bin", "mesh-cni")
	if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("plugin-bytes", 100000)
	if err := os.WriteFile(src, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Copy(src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ds, err := Digest(src)
	if err != nil {
		t.Fatal(err)
	}
	dd, err := Digest(dst)
	if err != nil {
		t.Fatal(err)
	}
	if ds == "" || ds != dd {
		t.Errorf("digest of copy %q != digest of source %q", dd, ds)
	}
	missing, err := Digest(filepath.Join(dir, "nope"))
	if err != nil || missing != "" {
		t.Errorf("Digest(missing) = %q, %v; want \"\", nil", missing, err)
	}
	assertNoTemp(t, filepath.Dir(dst))
}

func TestCopyMissingSourceLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	err := Copy(filepath.Join(dir, "absent"), filepath.Join(dir, "dst"), 0o755)
	if err == nil {
		t.Fatal("Copy of a missing source succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "dst")); !os.IsNotExist(err) {
		t.Errorf("dst exists after a failed copy: %v", err)
	}
	assertNoTemp(t, dir)
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{TempPrefix + "mesh-cni-abc", TempPrefix + "10-x.conflist-1", "keep.conf", "mesh-cni"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("removed %v, want the 2 temporary files", removed)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "keep.conf,mesh-cni" {
		t.Errorf("left %v, want [keep.conf mesh-cni]", names)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}
