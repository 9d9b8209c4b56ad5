// Command webhook is mesh-cni's mutating admission webhook for stock OSM:
// it takes the privileged osm-init init container out of the pods OSM's
// injector made and records its script on the pod for the plugin. Run
// `webhook --help` for its flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/mesh-cni/mesh-cni/internal/webhook/serve"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := serve.Parse(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "webhook: %v\n", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "webhook: --log-level %q: %v\n", cfg.LogLevel, err)
		return 2
	}
	opts := &slog.HandlerOptions{Level: level}
	log := slog.New(slog.NewJSONHandler(os.Stderr, opts))
	if cfg.LogFormat == "text" {
		log = slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := serve.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		log.Error("cannot listen", "address", cfg.ListenAddress, "error", err.Error())
		return 1
	}
	if err := srv.Run(ctx, ln); err != nil {
		log.Error("webhook failed", "error", err.Error())
		return 1
	}
	return 0
}
