// Package install is the installer DaemonSet's logic: it serves the node
// agent the plugin asks about pods (on a socket in the run dir), puts the
// mesh-cni plugin binary and its chain entry on the node, keeps them there
// while the primary CNI and others rewrite files, reports readiness only
// when all of it is in place and answering, and removes it on shutdown.
//
// The agent reads the API with the pod's own service account, in this
// process: no credential is written onto the host.
package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/install/chain"
	"github.com/mesh-cni/mesh-cni/internal/install/config"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/install/serviceaccount"
	"github.com/mesh-cni/mesh-cni/internal/install/status"
	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

// StateName is the install state's file in the run dir.
const StateName = "chain-state.json"

// Installer does one node's install. Create it with New and call Run.
type Installer struct {
	cfg      config.Config
	log      *slog.Logger
	status   *status.Status
	chain    *chain.Chain
	settings entry.Settings
	api      *nodeAPI
	agent    *agentRunner
	fights   *fightDetector

	sourceDigest string
	binaries     map[string]os.FileInfo // what we last copied, per bin dir
	primary      string                 // the file holding our entry
	chainDone    bool                   // the chain was complete once
	waiting      bool                   // we said we wait for a primary
	complete     bool                   // the last pass installed everything
	journalBegun bool                   // the plugin's journal has its start
	// scope and apiTimeout are the plugin's, from its settings.
	scope      server.Scope
	apiTimeout time.Duration
}

// New checks the plugin settings, reads the service account credentials
// and prepares an Installer.
func New(cfg config.Config, log *slog.Logger, st *status.Status) (*Installer, error) {
	settings, err := entry.Load(cfg.PluginConfig)
	if err != nil {
		return nil, err
	}
	api, err := newNodeAPI(serviceaccount.Source{Dir: cfg.ServiceAccountDir, Host: cfg.KubeHost, Port: cfg.KubePort}, log)
	if err != nil {
		return nil, err
	}
	// entry.Load checked them; Resolve fills in the defaults of a copy.
	resolved := settings.Settings
	parsed, err := resolved.Resolve()
	if err != nil {
		return nil, err
	}
	return &Installer{
		scope:      server.Scope{ExcludeNamespaces: resolved.ExcludeNamespaces, SidecarContainerNames: resolved.SidecarContainerNames},
		apiTimeout: parsed.APITimeout,
		cfg:        cfg,
		log:        log,
		status:     st,
		settings:   settings,
		chain: &chain.Chain{
			Dir:       cfg.ConfDir,
			ConfName:  cfg.ConfName,
			StatePath: filepath.Join(cfg.RunDir, StateName),
			Log:       log,
		},
		api:      api,
		fights:   &fightDetector{threshold: cfg.FightThreshold, window: cfg.FightWindow},
		binaries: map[string]os.FileInfo{},
	}, nil
}

// Run installs, then keeps the install in place until ctx is cancelled,
// and then uninstalls unless the configuration says to skip that.
func (in *Installer) Run(ctx context.Context) error {
	if err := in.prepare(); err != nil {
		return err
	}
	srv, err := in.serve()
	if err != nil {
		return err
	}
	defer srv.Close()
	// The agent stops after the uninstall below (defers run last): a pod
	// added while the entry is still there must get its answers.
	stopAgent := in.startAgent(ctx)
	defer stopAgent()
	w, err := newWatcher(in.log, in.watchedDirs())
	if err != nil {
		return err
	}
	defer w.close()
	in.syncAll()
	w.loop(ctx, in.cfg.Resync, in.syncAll, in.entryRemoved)
	in.status.SetNotReady("shutting down")
	if reason := in.skipCleanup(); reason != "" {
		in.log.Info("leaving the plugin installed on shutdown; the node agent stops, so pods outside the excluded namespaces fail with \"try again later\" until the next installer serves", "reason", reason)
		return nil
	}
	return in.uninstall()
}

// startAgent prepares the node agent, which the first sync pass starts
// serving, and returns what stops it. Its context is detached from ctx,
// which ends at SIGTERM, before the uninstall. The store's watches start
// now; until they have synced it reads the API for each request, so the
// socket never waits for them and only readiness does. Beside it runs the
// agent's upkeep of the node: repair and the taint's removal.
func (in *Installer) startAgent(ctx context.Context) (stop func()) {
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	log := in.log.With("component", "agent")
	store := server.NewStore(in.api.client, in.cfg.NodeName, log)
	// config.validate accepted the name.
	mode, _ := server.ParseRepairMode(in.cfg.Repair)
	up := &Upkeep{API: in.api.client, Node: in.cfg.NodeName, Ready: in.ready, Log: log, Repair: mode,
		RepairInterval: in.cfg.RepairInterval, Resync: in.cfg.Resync, Scope: in.scope, RunDir: in.cfg.RunDir}
	kept := up.Start(life, store)
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		store.Run(life)
	}()
	in.agent = &agentRunner{
		path:   filepath.Join(in.cfg.RunDir, AgentSocketName),
		srv:    server.New(store, in.api.client, log),
		log:    in.log,
		status: in.status,
		life:   life,
	}
	in.status.Require(in.agent.check)
	in.status.Require(func() error {
		if !store.Synced() {
			return errors.New("the node agent's watch of this node's pods has not synced yet (it answers from live API reads meanwhile)")
		}
		return nil
	})
	in.log.Info("the node agent watches this node's pods", "node", in.cfg.NodeName, "server", in.cfg.KubeHost+":"+in.cfg.KubePort)
	return func() {
		in.agent.stop()
		cancel()
		<-stored
		kept()
	}
}

// ready says whether the install is complete, its agent answering and
// its watch synced: what /readyz says.
func (in *Installer) ready() bool {
	ok, _ := in.status.Ready()
	return ok
}

// skipCleanup says why not to uninstall, or "" to uninstall. The file is
// read now, not at start, so that an operator can flip it in the ConfigMap
// before a rolling upgrade without restarting the pods it protects.
func (in *Installer) skipCleanup() string {
	if in.cfg.SkipCleanup {
		return "--skip-cleanup is set"
	}
	if in.cfg.SkipCleanupFile == "" {
		return ""
	}
	data, err := os.ReadFile(in.cfg.SkipCleanupFile)
	if err != nil {
		if !os.IsNotExist(err) {
			in.log.Warn("cannot read the skip-cleanup file; cleaning up", "file", in.cfg.SkipCleanupFile, "error", err.Error())
		}
		return ""
	}
	if skip, err := strconv.ParseBool(strings.TrimSpace(string(data))); err == nil && skip {
		return in.cfg.SkipCleanupFile + " says true"
	}
	return ""
}

func (in *Installer) prepare() error {
	digest, err := atomicfile.Digest(in.cfg.PluginSource)
	if err != nil || digest == "" {
		return fmt.Errorf("reading the plugin binary %s: %v", in.cfg.PluginSource, err)
	}
	in.sourceDigest = digest
	if err := os.MkdirAll(in.cfg.RunDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", in.cfg.RunDir, err)
	}
	if err := in.openJournal(); err != nil {
		return err
	}
	dirs := append([]string{in.cfg.ConfDir, in.cfg.RunDir}, in.cfg.BinDirs...)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
		removed, err := atomicfile.RemoveStale(d)
		if err != nil {
			return err
		}
		for _, p := range removed {
			in.log.Info("removed a temporary file left by a killed run", "file", p)
		}
	}
	return nil
}

func (in *Installer) watchedDirs() []string {
	dirs := append([]string{in.cfg.ConfDir, in.cfg.RunDir, in.cfg.ServiceAccountDir}, in.cfg.BinDirs...)
	return dirs
}

func (in *Installer) serve() (*http.Server, error) {
	ln, err := net.Listen("tcp", in.cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", in.cfg.ListenAddress, err)
	}
	srv := &http.Server{Handler: in.status.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			in.log.Error("health server stopped", "address", in.cfg.ListenAddress, "error", err.Error())
		}
	}()
	in.log.Info("serving /healthz, /readyz and /metrics", "address", ln.Addr().String())
	return srv, nil
}

// uninstall takes the entry out first, so that no pod is set up with a
// chain naming a binary that is about to go; the agent, which Run stops
// afterwards, still answers pods added meanwhile.
func (in *Installer) uninstall() error {
	var errs []error
	if err := in.chain.Uninstall(); err != nil {
		errs = append(errs, err)
	}
	for _, dir := range in.cfg.BinDirs {
		errs = append(errs, in.remove(filepath.Join(dir, entry.PluginType), "removed the plugin binary"))
	}
	errs = append(errs, in.remove(filepath.Join(in.cfg.RunDir, StateName), "removed the install state"))
	// The plugin records there whether its netlink writer matched this
	// node's iptables (apply.WireRecord).
	for _, f := range apply.WireFiles(in.cfg.RunDir) {
		errs = append(errs, in.remove(f, "removed the plugin's record of its nf_tables comparison"))
	}
	// Our binary is gone: whatever sets pods up next, the next installer
	// begins a journal of its own.
	errs = append(errs, journal.Journal{RunDir: in.cfg.RunDir}.Remove())
	err := errors.Join(errs...)
	if err != nil {
		in.log.Error("uninstall incomplete", "error", err.Error())
		return err
	}
	in.log.Info("uninstalled mesh-cni from the node")
	return nil
}

func (in *Installer) remove(path, msg string) error {
	err := os.Remove(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	in.log.Info(msg, "file", path)
	return nil
}
