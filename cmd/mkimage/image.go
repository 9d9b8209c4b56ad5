package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// file is one binary of the image: where it is read from and its name at
// the image's root.
type file struct {
	src, name string
}

// epoch stamps every file and the image itself, so that the same binaries
// always give the same image digest.
var epoch = time.Unix(0, 0).UTC()

// buildImage returns a scratch image whose single layer holds exactly the
// given files, with mode 0755 and owned by root, and whose entrypoint is
// entrypoint.
func buildImage(files []file, entrypoint, arch string) (v1.Image, error) {
	layerTar, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("making the layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{entrypoint}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.source":      "https://github.com/mesh-cni/mesh-cni",
		"org.opencontainers.image.description": "mesh-cni: the chained CNI plugin (/mesh-cni), its installer (/installer) and the admission webhook (/webhook)",
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the image config: %w", err)
	}
	return img, nil
}

func layerTar(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.src, err)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: f.name, Mode: 0o755, Size: int64(len(data)),
			ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("adding %s: %w", f.name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("adding %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// writeTarball writes img as a `docker save`-style tarball tagged tag,
// which `docker load`, `ctr images import` and `kind load image-archive`
// all read.
func writeTarball(path, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q: %w", tag, err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return nil
}
