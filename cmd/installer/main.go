// Command installer is mesh-cni's DaemonSet process: it serves the mesh-cni
// CNI plugin as its node agent (on a unix socket in the run dir), installs
// the plugin on the node, keeps it installed and removes it on SIGTERM.
// Run `installer --help` for its flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mesh-cni/mesh-cni/internal/install"
	"github.com/mesh-cni/mesh-cni/internal/install/config"
	"github.com/mesh-cni/mesh-cni/internal/install/status"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "agent" {
		return runAgent(args[1:], os.Stderr)
	}
	cfg, err := config.Parse(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "installer: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "installer: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	in, err := install.New(cfg, log, status.New())
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	if err := in.Run(ctx); err != nil {
		log.Error("installer failed", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(cfg config.Config) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", cfg.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
}
