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
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/install"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// agentFlags are `installer agent`'s settings.
type agentFlags struct {
	kubeconfig, node, socket, runDir, pluginConfig, repair string
	repairInterval                                         time.Duration
	debug                                                  bool
}

func parseAgentFlags(args []string, stderr io.Writer) (agentFlags, int) {
	var f agentFlags
	fs := flag.NewFlagSet("installer agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server to read (default $KUBECONFIG)")
	fs.StringVar(&f.node, "node-name", "", "the node whose pods the agent watches (pods elsewhere are read live)")
	fs.StringVar(&f.socket, "socket", agent.DefaultSocket, "unix socket the plugin dials (its agentSocket setting)")
	fs.StringVar(&f.runDir, "run-dir", settings.DefaultRunDir, "the plugin's run dir (its runDir setting), where it records the pods it set up")
	fs.StringVar(&f.pluginConfig, "plugin-config", "", "the plugin's settings (plugin.json, as the installer reads it), for which pods it sets up; default: the plugin's defaults")
	fs.StringVar(&f.repair, "repair", string(server.RepairDelete), "what to do with the node's pods set up without mesh-cni: delete, label or off (as the installer's --repair)")
	fs.DurationVar(&f.repairInterval, "repair-interval", 10*time.Second, "how often the node's pods are all looked at")
	fs.BoolVar(&f.debug, "debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, 0
		}
		return f, 2
	}
	if f.kubeconfig == "" || f.node == "" {
		fmt.Fprintln(stderr, "installer agent: --kubeconfig (or $KUBECONFIG) and --node-name are required")
		return f, 2
	}
	if _, err := server.ParseRepairMode(f.repair); err != nil || f.repairInterval <= 0 {
		fmt.Fprintf(stderr, "installer agent: --repair %q, --repair-interval %s: want delete, label or off, and a positive interval\n", f.repair, f.repairInterval)
		return f, 2
	}
	return f, -1
}

// runAgent is `installer agent`: the node agent alone, with a kubeconfig's
// credentials and no installing, so that the plugin can be tried on a
// machine that is no Kubernetes node (README, "Try it without a cluster").
// It keeps up the node as the installer's agent does (repair, the taint),
// ready once its watch of the node's pods has synced: whoever runs it put
// the plugin in the chain.
func runAgent(args []string, stderr io.Writer) int {
	f, code := parseAgentFlags(args, stderr)
	if code >= 0 {
		return code
	}
	level := slog.LevelInfo
	if f.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	up, apiTimeout, err := f.upkeep(log)
	if err != nil {
		fmt.Fprintf(stderr, "installer agent: %v\n", err)
		return 1
	}
	if err := install.BeginJournal(f.runDir, apiTimeout, log); err != nil {
		fmt.Fprintf(stderr, "installer agent: %v\n", err)
		return 1
	}
	ln, err := server.Listen(f.socket)
	if err != nil {
		fmt.Fprintf(stderr, "installer agent: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	store := server.NewStore(up.API, f.node, log)
	up.Ready = store.Synced
	kept := up.Start(ctx, store)
	defer kept()
	log.Info("the node agent serves the plugin", "socket", f.socket, "node", f.node, "kubeconfig", f.kubeconfig, "repair", f.repair)
	if err := server.RunStore(ctx, store, up.API, ln, log); err != nil {
		log.Error("the node agent failed", "error", err.Error())
		return 1
	}
	return 0
}

// upkeep is the agent's Upkeep, and the plugin's API timeout.
func (f agentFlags) upkeep(log *slog.Logger) (*install.Upkeep, time.Duration, error) {
	cfg, err := kube.LoadKubeconfig(f.kubeconfig)
	if err != nil {
		return nil, 0, err
	}
	plugin, err := entry.Load(f.pluginConfig)
	if err != nil {
		return nil, 0, err
	}
	resolved := plugin.Settings
	parsed, err := resolved.Resolve()
	if err != nil {
		return nil, 0, err
	}
	mode, _ := server.ParseRepairMode(f.repair)
	return &install.Upkeep{
		API: kube.NewClient(cfg), Node: f.node, Log: log, Repair: mode, RepairInterval: f.repairInterval,
		Resync: time.Minute, RunDir: f.runDir,
		Scope: server.Scope{ExcludeNamespaces: resolved.ExcludeNamespaces, SidecarContainerNames: resolved.SidecarContainerNames},
	}, parsed.APITimeout, nil
}
