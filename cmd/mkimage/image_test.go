package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const tag = "ghcr.io/mesh-cni/mesh-cni:dev"

// layerFiles reads the tarball at path and returns the files of its single
// layer, by name, with their modes.
func layerFiles(t *testing.T, path string) (map[string][]byte, map[string]int64, *v1.ConfigFile) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &ref)
	if err != nil {
		t.Fatalf("reading %s as %s: %v", path, tag, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files, modes := map[string][]byte{}, map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name], modes[hdr.Name] = data, hdr.Mode
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return files, modes, cf
}

func names(m map[string][]byte) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestImageHoldsExactlyTheThreeBinaries(t *testing.T) {
	dir := t.TempDir()
	plugin, installer, webhook := filepath.Join(dir, "p"), filepath.Join(dir, "i"), filepath.Join(dir, "w")
	if err := os.WriteFile(plugin, []byte("plugin bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(installer, []byte("installer bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(webhook, []byte("webhook bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for i, out := range []string{filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")} {
		var log bytes.Buffer
		if err := run([]string{"-o", out, "-plugin", plugin, "-installer", installer, "-webhook", webhook, "-arch", "amd64"}, &log); err != nil {
			t.Fatal(err)
		}
		files, modes, cf := layerFiles(t, out)
		if names(files) != "installer,mesh-cni,webhook" {
			t.Fatalf("layer holds %s, want exactly installer,mesh-cni,webhook", names(files))
		}
		if string(files["mesh-cni"]) != "plugin bytes" || string(files["installer"]) != "installer bytes" || string(files["webhook"]) != "webhook bytes" {
			t.Errorf("layer contents differ from the binaries")
		}
		if modes["mesh-cni"] != 0o755 || modes["installer"] != 0o755 || modes["webhook"] != 0o755 {
			t.Errorf("modes %v, want 0755", modes)
		}
		if !slices.Equal(cf.Config.Entrypoint, []string{"/installer"}) || cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("config: entrypoint %v, platform %s/%s", cf.Config.Entrypoint, cf.OS, cf.Architecture)
		}
		digests = append(digests, strings.Fields(log.String())[3])
		if i == 1 && digests[0] != digests[1] {
			t.Errorf("the same binaries gave two image digests: %v", digests)
		}
	}
}

// TestBuildsStaticBinaries runs the command as a user would, from the
// module root, and checks that the binaries in the layer are static: the
// image has no dynamic loader or libc.
func TestBuildsStaticBinaries(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mesh-cni-image.tar")
	t.Chdir("../..")
	var log bytes.Buffer
	if err := run([]string{"-o", out}, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	files, _, _ := layerFiles(t, out)
	if names(files) != "installer,mesh-cni,webhook" {
		t.Fatalf("layer holds %s", names(files))
	}
	for name, data := range files {
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s is not an ELF binary: %v", name, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s needs a dynamic loader; the image has none", name)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s links %v", name, libs)
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing binary", []string{"-o", filepath.Join(dir, "x.tar"), "-plugin", filepath.Join(dir, "nope"), "-installer", filepath.Join(dir, "nope"), "-webhook", filepath.Join(dir, "nope")}, "nope"},
		{"bad tag", []string{"-o", filepath.Join(dir, "x.tar"), "-plugin", "image.go", "-installer", "image.go", "-webhook", "image.go", "-tag", "UPPER:case:x"}, "UPPER"},
		{"stray argument", []string{"build"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
