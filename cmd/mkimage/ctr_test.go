package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCtrImportsTheTarball loads the tarball into a private containerd (its
// own root, state and socket under a temp dir), the way
// `ctr -n k8s.io images import` loads it on a node, and mounts the
// unpacked image to see exactly the three binaries at its root.
func TestCtrImportsTheTarball(t *testing.T) {
	for _, bin := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (Debian package containerd): %v", bin, err)
		}
	}
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "img.tar")
	plugin := filepath.Join(dir, "p")
	if err := os.WriteFile(plugin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-o", tarPath, "-plugin", plugin, "-installer", plugin, "-webhook", plugin}, io.Discard); err != nil {
		t.Fatal(err)
	}
	sock := startContainerd(t, dir)
	ctr := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ctr", append([]string{"--address", sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ctr("images", "import", tarPath)
	if out := ctr("images", "ls", "-q"); !strings.Contains(out, tag) {
		t.Fatalf("imported images:\n%s\nwant %s", out, tag)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	ctr("images", "mount", tag, mnt)
	defer ctr("images", "unmount", mnt)
	entries, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %v", e.Name(), info.Mode()))
	}
	sort.Strings(got)
	if want := "installer -rwxr-xr-x,mesh-cni -rwxr-xr-x,webhook -rwxr-xr-x"; strings.Join(got, ",") != want {
		t.Errorf("image root holds %v, want %s", got, want)
	}
}

func startContainerd(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "containerd.sock")
	cfg := filepath.Join(dir, "containerd.toml")
	// The opt plugin's path defaults to /opt/containerd on the host; a
	// test must leave the host as it found it.
	conf := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, filepath.Join(dir, "opt"))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for exec.Command("ctr", "--address", sock, "version").Run() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("containerd did not answer on %s:\n%s", sock, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return sock
}
