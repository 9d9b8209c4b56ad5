// Package images builds, without a registry or a container builder, the two
// images the e2e suite, `make demo` and the benchmark load onto a node:
// mesh-cni's (from cmd/mkimage, as the README says) and App, the test
// application (test/e2e/meshapp) with a busybox shell.
package images

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// App holds meshapp (/meshapp, its entrypoint), `envoy` (meshapp's sidecar,
// which OSM's injector runs from PATH) and a busybox sh for the osm-init
// stand-in; pods use it with imagePullPolicy: Never.
const App = "mesh-cni.local/meshapp:e2e"

// MeshCNI is mesh-cni's image as deploy/ names it.
const MeshCNI = "ghcr.io/mesh-cni/mesh-cni:dev"

// busyboxApplets are what the osm-init stand-in and people debugging a pod
// need from busybox.
var busyboxApplets = []string{"sh", "true", "sleep", "cat", "ls", "ip", "id"}

// Build writes the mesh-cni image and the App image as docker-save tarballs
// into dir (which must exist) and returns their paths, to load with `ctr
// images import` or `kind load image-archive`. repo is the checkout.
func Build(repo, dir string) ([]string, error) {
	meshTar, err := BuildMeshCNI(repo, dir, "", "")
	if err != nil {
		return nil, err
	}
	appTar, err := BuildApp(repo, dir)
	if err != nil {
		return nil, err
	}
	return []string{meshTar, appTar}, nil
}

// BuildMeshCNI writes the MeshCNI image (go run ./cmd/mkimage) into dir and
// returns its path. plugin and installer are prebuilt static binaries to
// put in it, or "" for mkimage to build them.
func BuildMeshCNI(repo, dir, plugin, installer string) (string, error) {
	meshTar := filepath.Join(dir, "mesh-cni-image.tar")
	mk := exec.Command("go", "run", "./cmd/mkimage", "-o", meshTar, "-tag", MeshCNI, "-plugin", plugin, "-installer", installer)
	mk.Dir = repo
	if out, err := mk.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go run ./cmd/mkimage: %w\n%s", err, out)
	}
	return meshTar, nil
}

// BuildApp writes the App image into dir and returns its path.
func BuildApp(repo, dir string) (string, error) {
	root := filepath.Join(dir, "app-root")
	if err := os.RemoveAll(root); err != nil {
		return "", fmt.Errorf("cleaning %s: %w", root, err)
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", fmt.Errorf("building the app image: %w", err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(root, "meshapp"), "./test/e2e/meshapp")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building meshapp: %w\n%s", err, out)
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("reading /bin/busybox for the app image (is busybox-static installed?): %w", err)
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
			return "", fmt.Errorf("building the app image: %w", err)
		}
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return "", fmt.Errorf("building the app image: %w", err)
		}
	}
	appTar := filepath.Join(dir, "app-image.tar")
	f, err := os.Create(appTar)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", appTar, err)
	}
	err = cluster.WriteImageTar(f, App, root, []string{"/meshapp"}, nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", appTar, err)
	}
	return appTar, nil
}
