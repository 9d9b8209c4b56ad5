//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// appImage holds meshapp (/meshapp) and a busybox sh for the osm-init
// stand-in; pods use it with imagePullPolicy: Never.
const appImage = "mesh-cni.local/meshapp:e2e"

// busyboxApplets are what the osm-init stand-in and people debugging a pod
// need from busybox.
var busyboxApplets = []string{"sh", "true", "sleep", "cat", "ls", "ip", "id"}

// buildImages writes the mesh-cni image (cmd/mkimage, as the README says) and
// the app image, and loads both onto the cluster's node. Nothing is pulled.
func buildImages(t *testing.T, e *env) {
	start := time.Now()
	dir := t.TempDir()
	meshTar := filepath.Join(dir, "mesh-cni-image.tar")
	mk := exec.Command("go", "run", "./cmd/mkimage", "-o", meshTar)
	mk.Dir = e.repo
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("go run ./cmd/mkimage: %v\n%s", err, out)
	}
	root := filepath.Join(dir, "app-root")
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(root, "meshapp"), "./test/e2e/meshapp")
	build.Dir = e.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building meshapp: %v\n%s", err, out)
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("reading /bin/busybox for the app image (is busybox-static installed?): %v", err)
	}
	files := map[string]string{
		"bin/busybox": string(busybox),
		// uid 1500 is the proxy's; a name makes `id` and ps readable.
		"etc/passwd": "root:x:0:0:root:/:/bin/sh\nproxy:x:1500:1500:proxy:/:/bin/sh\n",
		"etc/group":  "root:x:0:\nproxy:x:1500:\n",
		// OSM's injector runs its sidecar as `envoy ...` from PATH.
		"bin/envoy": "#!/bin/sh\nexec /meshapp sidecar\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	appTar := filepath.Join(dir, "app-image.tar")
	f, err := os.Create(appTar)
	if err != nil {
		t.Fatal(err)
	}
	err = cluster.WriteImageTar(f, appImage, root, []string{"/meshapp"}, nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing %s: %v", appTar, err)
	}
	for _, tar := range []string{meshTar, appTar} {
		e.load(t, tar)
	}
	t.Logf("images built and loaded in %.1fs", time.Since(start).Seconds())
}
