package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// invocation is what every command starts from: the parsed config, the
// pod, and a logger naming it.
type invocation struct {
	conf *NetConf
	pod  podRef
	log  *slog.Logger
}

func start(command string, args *skel.CmdArgs, requirePrev bool) (*invocation, error) {
	pod, err := parseArgs(args.Args)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, err.Error(), "")
	}
	conf, err := parseConf(args.StdinData, requirePrev)
	if err != nil {
		newLogger(0, command, pod).Error("invalid network config", "error", err)
		return nil, types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	log := newLogger(conf.logLevel, command, pod)
	conf.warnUnknown(log)
	return &invocation{conf: conf, pod: pod, log: log}, nil
}

// plan is what a pod in scope gets: its rule sets, the profile they are
// of and why, and where the settings came from; or, for a pod whose mesh
// intercepts its traffic otherwise, only why mesh-cni leaves it alone.
type plan struct {
	sets   []rules.RuleSet
	source string
	choice meshsettings.ProfileChoice
	skip   string
}

// planPod builds the pod's rule sets, for ADD and CHECK alike: from the
// osm-init command mesh-cni's webhook recorded on it, or else from the
// mesh settings merged with the pod's annotations, in the profile the
// configuration or the cluster says.
func planPod(ctx context.Context, api meshsettings.Reader, conf *NetConf, pod *object.Pod) (plan, error) {
	ref := pod.Metadata.Namespace + "/" + pod.Metadata.Name
	ips, err := podIPs(conf.PrevResult)
	if err != nil {
		return plan{}, err
	}
	mesh, err := meshsettings.Gather(ctx, api, conf.MeshNamespace, conf.MeshConfigName)
	if err != nil {
		return plan{}, err
	}
	// The mesh's own interception comes first, even for a pod that
	// carries a record: under osm-edge's eBPF interceptor, rules on top
	// would send its traffic round twice. The agent answers from its
	// cache, so asking costs no API read.
	skip, err := meshsettings.InterceptionSkip(mesh)
	if err != nil {
		return plan{}, fmt.Errorf("pod %s: %w", ref, err)
	}
	if skip != "" {
		return plan{source: mesh.Source, skip: skip}, nil
	}
	if pl, ok, err := recordedPlan(pod, ips); ok || err != nil {
		return pl, err
	}
	d, err := meshsettings.Configure(mesh, conf.profile, pod, ips)
	if err != nil {
		return plan{}, err
	}
	sets, err := rules.BuildSets(d.Config)
	if err != nil {
		return plan{}, fmt.Errorf("pod %s: %w", ref, err)
	}
	return plan{sets: sets, source: mesh.Source, choice: d.Choice}, nil
}

// lookupPod connects to the node agent and reads the pod, checking it is
// the one the runtime is setting up. The caller closes api when it is not
// nil.
func (p *Plugin) lookupPod(ctx context.Context, inv *invocation) (kubeAPI, *object.Pod, error) {
	api, err := p.newAPI(ctx, inv.conf)
	if err != nil {
		return nil, nil, err
	}
	pod, err := api.GetPod(ctx, inv.pod.Namespace, inv.pod.Name, inv.pod.UID)
	if err != nil {
		return api, nil, err
	}
	if inv.pod.UID != "" && pod.Metadata.UID != "" && pod.Metadata.UID != inv.pod.UID {
		return api, nil, fmt.Errorf("pod %s has UID %s but the runtime is setting up UID %s: the pod was replaced", inv.pod, pod.Metadata.UID, inv.pod.UID)
	}
	if inv.pod.UID == "" {
		inv.pod.UID = pod.Metadata.UID
	}
	return api, pod, nil
}

// outOfNamespace says whether the pod is out of scope by its namespace
// alone, and logs why. ADD and CHECK ask it before they make their API
// deadline: the deadline's timer starts the Go runtime's network poller
// (an epoll instance and a thread woken), time a pod skipped without any
// API call need not spend.
func (inv *invocation) outOfNamespace() bool {
	reason := namespaceSkip(inv.conf, inv.pod)
	if reason != "" {
		inv.log.Debug("pod out of scope", "reason", reason)
	}
	return reason != ""
}

// planFor runs the steps ADD and CHECK share once the pod's namespace is
// in scope: read the pod, scope by pod, gather and merge the settings,
// build the rule sets. A nil plan means the pod is out of scope. The
// caller closes api when it is not nil.
func (p *Plugin) planFor(ctx context.Context, inv *invocation) (kubeAPI, *plan, error) {
	api, pod, err := p.lookupPod(ctx, inv)
	if err != nil {
		return api, nil, err
	}
	if reason := podSkip(inv.conf, pod); reason != "" {
		inv.log.Debug("pod out of scope", "reason", reason)
		return api, nil, nil
	}
	pl, err := planPod(ctx, api, inv.conf, pod)
	if err != nil {
		return api, nil, err
	}
	return api, &pl, nil
}

// cmdAdd installs the pod's redirection rules, or passes the previous
// result through for a pod out of scope. A pod in scope never starts
// without its rules: every failure is a CNI error.
func (p *Plugin) cmdAdd(args *skel.CmdArgs) error {
	began := time.Now()
	inv, err := start("ADD", args, true)
	if err != nil {
		return err
	}
	if inv.outOfNamespace() {
		return passThrough(inv.conf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), inv.conf.apiTimeout)
	defer cancel()
	api, pl, err := p.planFor(ctx, inv)
	planned := time.Now()
	if api != nil {
		defer api.Close()
	}
	if err != nil {
		return p.fail(inv, api, err)
	}
	if pl == nil {
		return passThrough(inv.conf)
	}
	if pl.skip != "" {
		if err := p.noteSetUp(inv, args.ContainerID); err != nil {
			return p.fail(inv, api, err)
		}
		inv.log.Info("pod left to its mesh's own interception", "reason", pl.skip)
		recordEvent(api, inv.log, inv.conf.apiTimeout, p.host, inv.pod, object.EventNormal, ReasonSkipped, skippedMessage(pl.skip))
		return passThrough(inv.conf)
	}
	res, err := p.netns.Apply(args.Netns, pl.sets, wireDir(inv.conf))
	if err != nil {
		return p.fail(inv, api, fmt.Errorf("applying rules in %s for pod %s: %w", args.Netns, inv.pod, err))
	}
	if err := p.noteSetUp(inv, args.ContainerID); err != nil {
		return p.fail(inv, api, err)
	}
	applied := time.Now()
	recordEvent(api, inv.log, inv.conf.apiTimeout, p.host, inv.pod, object.EventNormal, ReasonConfigured, configuredMessage(pl))
	if pl.choice.Mismatch {
		inv.log.Warn("the configured profile is not the generation the cluster shows", "profile", pl.choice.Profile, "reason", pl.choice.Reason)
		recordEvent(api, inv.log, inv.conf.apiTimeout, p.host, inv.pod, object.EventWarning, ReasonProfileMismatch, mismatchMessage(pl.choice))
	}
	// The phases' durations show where a slow ADD spends its time.
	inv.log.Info("traffic redirection configured", "profile", pl.choice.Profile, "profile_reason", pl.choice.Reason, "families", len(pl.sets),
		"settings", pl.source, "backend", res.backend, "writer", res.writer, "changed", res.changed, "netns", args.Netns,
		"agent_ms", ms(planned.Sub(began)), "apply_ms", ms(applied.Sub(planned)), "event_ms", ms(time.Since(applied)))
	return passThrough(inv.conf)
}

// wireDir is where the record of the node's netlink-writer comparison is
// kept (apply.Options.WireDir): the run directory, which the
// installer empties when it uninstalls; "" when rulesWriter keeps to
// iptables-restore.
func wireDir(conf *NetConf) string {
	if !conf.netlink {
		return ""
	}
	return conf.RunDir
}

// ms is a duration in milliseconds with two decimals, for log lines.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

// fail logs err, records it on the pod where the agent and the API can be
// reached, and turns it into a CNI error: code 11 (try again later) when
// the agent or the API was unavailable or overloaded, so kubelet retries
// the sandbox.
func (p *Plugin) fail(inv *invocation, api kubeAPI, err error) error {
	inv.log.Error("traffic redirection failed", "error", err)
	if api != nil && !agent.IsUnreachable(err) {
		recordEvent(api, inv.log, inv.conf.apiTimeout, p.host, inv.pod, object.EventWarning, ReasonFailed, failedMessage(err))
	}
	return cniError(err)
}

// cniError picks the CNI error code for err.
func cniError(err error) error {
	var cniErr *types.Error
	switch {
	case errors.As(err, &cniErr):
		return cniErr
	case agent.IsTransient(err):
		return types.NewError(types.ErrTryAgainLater, "mesh-cni: "+err.Error(), "")
	}
	return types.NewError(types.ErrInternal, "mesh-cni: "+err.Error(), "")
}
