package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mesh-cni/mesh-cni/pkg/agent"
	"github.com/mesh-cni/mesh-cni/pkg/agent/server"
	"github.com/mesh-cni/mesh-cni/pkg/kube"
)

// runAgent is `installer agent`: the node agent alone, with a kubeconfig's
// credentials and no installing, so that the plugin can be tried on a
// machine that is no Kubernetes node (README, "Try it without a cluster").
func runAgent(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("installer agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server to read (default $KUBECONFIG)")
	node := fs.String("node-name", "", "the node whose pods the agent watches (pods elsewhere are read live)")
	socket := fs.String("socket", agent.DefaultSocket, "unix socket the plugin dials (its agentSocket setting)")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *kubeconfig == "" || *node == "" {
		fmt.Fprintln(stderr, "installer agent: --kubeconfig (or $KUBECONFIG) and --node-name are required")
		return 2
	}
	cfg, err := kube.LoadKubeconfig(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "installer agent: %v\n", err)
		return 1
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ln, err := server.Listen(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "installer agent: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("the node agent serves the plugin", "socket", *socket, "node", *node, "kubeconfig", *kubeconfig)
	if err := server.Run(ctx, kube.NewClient(cfg), *node, ln, log); err != nil {
		log.Error("the node agent failed", "error", err.Error())
		return 1
	}
	return 0
}
