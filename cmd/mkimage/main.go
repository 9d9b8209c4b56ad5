// Command mkimage writes mesh-cni's container image as a tarball without
// Docker or a registry: a scratch image holding only the three static
// binaries, /mesh-cni (the plugin), /installer (the DaemonSet's process)
// and /webhook (the admission webhook's Deployment), the same image the
// Dockerfile builds. Load it with
// `kind load image-archive`, `ctr -n k8s.io images import` or `docker load`.
//
// Run from the module root: `go run ./cmd/mkimage -o mesh-cni-image.tar`
// builds the binaries (CGO_ENABLED=0) and writes the tarball; --plugin,
// --installer and --webhook take prebuilt binaries instead.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(out)
	output := fs.String("o", "mesh-cni-image.tar", "the tarball to write")
	tag := fs.String("tag", "ghcr.io/mesh-cni/mesh-cni:dev", "the image's name and tag, as deploy/ names it")
	plugin := fs.String("plugin", "", "a prebuilt static mesh-cni binary; empty: build ./cmd/mesh-cni")
	installer := fs.String("installer", "", "a prebuilt static installer binary; empty: build ./cmd/installer")
	webhook := fs.String("webhook", "", "a prebuilt static webhook binary; empty: build ./cmd/webhook")
	arch := fs.String("arch", runtime.GOARCH, "the image's architecture (GOARCH for the builds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *plugin == "" || *installer == "" || *webhook == "" {
		dir, err := os.MkdirTemp("", "mkimage")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		for _, b := range []struct {
			path *string
			pkg  string
		}{{plugin, "./cmd/mesh-cni"}, {installer, "./cmd/installer"}, {webhook, "./cmd/webhook"}} {
			if *b.path != "" {
				continue
			}
			*b.path = filepath.Join(dir, filepath.Base(b.pkg))
			if err := build(b.pkg, *b.path, *arch, out); err != nil {
				return err
			}
		}
	}
	img, err := buildImage([]file{{*plugin, "mesh-cni"}, {*installer, "installer"}, {*webhook, "webhook"}}, "/installer", *arch)
	if err != nil {
		return err
	}
	if err := writeTarball(*output, *tag, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %s (%s)\n", *output, *tag, digest)
	return nil
}

// build compiles pkg as a static binary: the image has no libc.
func build(pkg, dst, arch string, out io.Writer) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", dst, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pkg, err)
	}
	return nil
}
