package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Local images; pods must use imagePullPolicy: Never (nothing is ever pulled).
const (
	// PauseImage is the sandbox image, built from test/tools/pause.c.
	PauseImage = "registry.k8s.io/pause:3.10"
	// AppImage is a busybox-static image for test apps: sh, nc, httpd, ip, ...
	// Its entrypoint is /bin/sh.
	AppImage = "mesh-cni.local/busybox:1"
)

// appApplets are the busybox applets AppImage links into /bin.
var appApplets = []string{"sh", "ls", "cat", "ip", "ping", "sleep", "nc", "hostname", "ps", "echo",
	"httpd", "true", "false", "wget", "grep", "ifconfig", "route", "netstat", "id", "env", "kill", "mkdir", "touch"}

// WriteImageTar writes a docker-save tarball (loadable by `ctr images import`)
// of a one-layer image whose root filesystem is the directory rootfs. Owners,
// times and ordering are normalised so the same tree gives the same image ID.
func WriteImageTar(w io.Writer, ref, rootfs string, entrypoint, cmd []string) error {
	var layer bytes.Buffer
	if err := tarTree(&layer, rootfs); err != nil {
		return fmt.Errorf("building layer of %s from %s: %w", ref, rootfs, err)
	}
	layerSum := sha256.Sum256(layer.Bytes())
	diffID := hex.EncodeToString(layerSum[:])
	epoch := "1970-01-01T00:00:00Z"
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": epoch,
		"config": map[string]any{"Entrypoint": entrypoint, "Cmd": cmd,
			"Env": []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"}, "WorkingDir": "/"},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
		"history": []map[string]string{{"created": epoch, "created_by": "mesh-cni test/cluster"}},
	})
	if err != nil {
		return fmt.Errorf("encoding image config of %s: %w", ref, err)
	}
	cfgSum := sha256.Sum256(cfg)
	cfgID := hex.EncodeToString(cfgSum[:])
	repo, tag := splitRef(ref)
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgID + ".json", "RepoTags": []string{ref}, "Layers": []string{diffID + "/layer.tar"}}})
	repos, _ := json.Marshal(map[string]map[string]string{repo: {tag: diffID}})

	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{{cfgID + ".json", cfg}, {diffID + "/layer.tar", layer.Bytes()}, {"manifest.json", manifest}, {"repositories", repos}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("writing image %s: %w", ref, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("writing image %s: %w", ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing image %s: %w", ref, err)
	}
	return nil
}

func splitRef(ref string) (repo, tag string) {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[:i], ref[i+1:]
		}
	}
	return ref, "latest"
}

// tarTree writes the tree under root as a tar stream with root-owned entries.
func tarTree(w io.Writer, root string) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			if err := copyFileTo(tw, p); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func copyFileTo(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// buildLocalImages writes the pause and app image tarballs into dir.
func buildLocalImages(dir, pauseBin string) (tars []string, err error) {
	pauseRoot, appRoot := filepath.Join(dir, "pause-root"), filepath.Join(dir, "app-root")
	for _, d := range []string{pauseRoot, appRoot + "/bin", appRoot + "/etc", appRoot + "/tmp", appRoot + "/proc", appRoot + "/sys", appRoot + "/dev"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("building images: %w", err)
		}
	}
	if err := copyFile(pauseBin, filepath.Join(pauseRoot, "pause"), 0o755); err != nil {
		return nil, fmt.Errorf("building pause image: %w", err)
	}
	if err := copyFile("/bin/busybox", filepath.Join(appRoot, "bin", "busybox"), 0o755); err != nil {
		return nil, fmt.Errorf("building app image (is busybox-static installed?): %w", err)
	}
	for _, a := range appApplets {
		if err := os.Symlink("busybox", filepath.Join(appRoot, "bin", a)); err != nil && !os.IsExist(err) {
			return nil, fmt.Errorf("building app image: %w", err)
		}
	}
	for name, data := range map[string]string{"passwd": "root:x:0:0:root:/:/bin/sh\nproxy:x:1500:1500:proxy:/:/bin/sh\n", "group": "root:x:0:\nproxy:x:1500:\n"} {
		if err := os.WriteFile(filepath.Join(appRoot, "etc", name), []byte(data), 0o644); err != nil {
			return nil, fmt.Errorf("building app image: %w", err)
		}
	}
	for _, img := range []struct {
		ref, root, file string
		entry           []string
	}{{PauseImage, pauseRoot, "pause.tar", []string{"/pause"}}, {AppImage, appRoot, "app.tar", []string{"/bin/sh"}}} {
		path := filepath.Join(dir, img.file)
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("building image %s: %w", img.ref, err)
		}
		err = WriteImageTar(f, img.ref, img.root, img.entry, nil)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		tars = append(tars, path)
	}
	return tars, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
