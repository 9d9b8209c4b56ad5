package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/images"
)

// osmInitImage is an osm-init image the pod start-up test builds locally
// (nothing is pulled): busybox's sh and the host's iptables and
// iptables-restore (nft backend, as OSM's image) with their libraries: the
// stand-in's command chain and OSM's own `iptables-restore --noflush`
// script both run in it. Its pods' other image is test/images' App:
// meshapp as the app, the sidecar stand-in and the `envoy` OSM's injector
// runs from PATH.
const osmInitImage = "mesh-cni.local/bench-osm-init:1"

// xtablesLibDir is where iptables loads its match and target extensions.
const xtablesLibDir = "/usr/lib/x86_64-linux-gnu/xtables"

// buildImages writes the App image's and the osm-init image's tarballs
// into dir.
func buildImages(t *phase, b *binaries, dir string) []string {
	appTar, err := images.BuildApp(b.root, dir)
	must(t, "meshapp image", err)
	root, initTar := filepath.Join(dir, "osm-init-root"), filepath.Join(dir, "osm-init.tar")
	must(t, "osm-init image", buildOSMInitRoot(root))
	f, err := os.Create(initTar)
	must(t, "image "+osmInitImage, err)
	err = cluster.WriteImageTar(f, osmInitImage, root, nil, nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	must(t, "image "+osmInitImage, err)
	return []string{appTar, initTar}
}

// buildOSMInitRoot lays out /bin/sh (busybox-static), iptables and
// iptables-restore -> xtables-nft-multi, every library ldd names for it and its extensions,
// and the files iptables reads (protocols, passwd for the uid 1500 match).
func buildOSMInitRoot(root string) error {
	multi, err := exec.LookPath("xtables-nft-multi")
	if err != nil {
		return fmt.Errorf("the osm-init image needs xtables-nft-multi: %w", err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("the osm-init image needs busybox-static: %w", err)
	}
	exts, err := filepath.Glob(filepath.Join(xtablesLibDir, "*.so"))
	if err != nil || len(exts) == 0 {
		return fmt.Errorf("no iptables extensions in %s", xtablesLibDir)
	}
	files := map[string]string{busybox: "/bin/busybox", multi: "/usr/sbin/xtables-nft-multi"}
	for _, e := range exts {
		files[e] = e
	}
	for _, obj := range append([]string{multi}, exts...) {
		libs, err := sharedLibs(obj)
		if err != nil {
			return err
		}
		for _, l := range libs {
			files[l] = l
		}
	}
	for src, dst := range files {
		if err := copyInto(root, src, dst); err != nil {
			return err
		}
	}
	for _, f := range []string{"/etc/protocols"} {
		if err := copyInto(root, f, f); err != nil {
			return err
		}
	}
	links := map[string]string{"/bin/sh": "busybox", "/usr/sbin/iptables": "xtables-nft-multi",
		"/usr/sbin/iptables-restore": "xtables-nft-multi"}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			return fmt.Errorf("osm-init image: %w", err)
		}
	}
	etc := map[string]string{"passwd": "root:x:0:0:root:/:/bin/sh\nproxy:x:1500:1500:proxy:/:/bin/sh\n",
		"group": "root:x:0:\nproxy:x:1500:\n", "nsswitch.conf": "passwd: files\ngroup: files\nprotocols: files\n"}
	for name, data := range etc {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("osm-init image: %w", err)
		}
	}
	return nil
}

// sharedLibs lists the libraries ldd says obj loads, the loader included.
func sharedLibs(obj string) ([]string, error) {
	out, err := exec.Command("ldd", obj).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", obj, err)
	}
	var libs []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}

// copyInto copies the file src (following links) to root+dst.
func copyInto(root, src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("image file %s: %w", src, err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("image file %s: %w", src, err)
	}
	p := filepath.Join(root, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("image dir for %s: %w", dst, err)
	}
	if err := os.WriteFile(p, data, st.Mode().Perm()); err != nil {
		return fmt.Errorf("image file %s: %w", dst, err)
	}
	return nil
}

// must ends the phase when err is not nil.
func must(t *phase, what string, err error) {
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
