// Package settings holds mesh-cni's own keys in its conflist entry: what an
// operator sets through the installer's ConfigMap and what the plugin reads
// at every ADD. One definition serves both, so the installer refuses at
// install time exactly what the plugin would refuse for every pod of the
// node.
package settings

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Defaults of the settings.
const (
	// DefaultAgentSocket is where the node agent (the DaemonSet's pod)
	// answers the plugin.
	DefaultAgentSocket = agent.DefaultSocket
	// DefaultRunDir is mesh-cni's run directory on the host (tmpfs),
	// which the installer empties when it uninstalls.
	DefaultRunDir         = "/var/run/mesh-cni"
	DefaultMeshNamespace  = "osm-system"
	DefaultMeshConfigName = "osm-mesh-config"
	// DefaultOwnNamespace is where deploy/ runs mesh-cni's DaemonSet.
	DefaultOwnNamespace = "mesh-cni"
	// DefaultAPITimeout bounds the API work of one ADD. Generous, because
	// a node starting a hundred pods at once on two cores keeps the API
	// server busy for seconds (docs/benchmarks.md: 3 s failed a third of
	// such a burst with "try again later"); an API that is down still
	// fails at once with connection refused.
	DefaultAPITimeout = 10 * time.Second
)

// DefaultExcludeNamespaces are never meshed by mesh-cni: the control
// plane's and mesh-cni's own pods must start even when the API is down.
var DefaultExcludeNamespaces = []string{"kube-system", DefaultOwnNamespace}

// DefaultSidecarContainerNames are OSM's (envoy) and osm-edge's (sidecar).
var DefaultSidecarContainerNames = []string{"envoy", "sidecar"}

// Keys lists the settings' JSON keys, for messages about unknown ones.
const Keys = "agentSocket, runDir, meshNamespace, meshConfigName, profile, excludeNamespaces, sidecarContainerNames, logLevel, apiTimeout, rulesWriter"

// Settings are mesh-cni's keys in its conflist entry. Empty means default.
type Settings struct {
	AgentSocket string `json:"agentSocket,omitempty"`
	// RunDir holds the plugin's state on the host: the record of the
	// node's netlink-writer comparison (internal/rules/apply).
	RunDir         string `json:"runDir,omitempty"`
	MeshNamespace  string `json:"meshNamespace,omitempty"`
	MeshConfigName string `json:"meshConfigName,omitempty"`
	Profile        string `json:"profile,omitempty"`
	// The lists omit only an absent (nil) list: an empty one, which the
	// operator wrote, is not the default.
	ExcludeNamespaces     []string `json:"excludeNamespaces,omitzero"`
	SidecarContainerNames []string `json:"sidecarContainerNames,omitzero"`
	LogLevel              string   `json:"logLevel,omitempty"`
	APITimeout            string   `json:"apiTimeout,omitempty"`
	RulesWriter           string   `json:"rulesWriter,omitempty"`
}

// ProfileAuto, the default profile, picks the rules of the mesh generation
// the cluster shows (internal/meshsettings/generation.go).
const ProfileAuto = "auto"

// The values of rulesWriter.
const (
	// WriterAuto writes a new pod's rules over netlink where the node has
	// proven that the same kernel objects result as with its
	// iptables-nft-restore (internal/rules/apply/wire.go), else runs iptables-restore.
	WriterAuto = "auto"
	// WriterIptablesRestore always runs iptables-restore: the operator's
	// way back, should the netlink writer ever be in doubt.
	WriterIptablesRestore = "iptables-restore"
)

// Parsed are the settings' values in the types the plugin works with.
type Parsed struct {
	// Profile is "" for ProfileAuto.
	Profile    rules.Profile
	LogLevel   slog.Level
	APITimeout time.Duration
	// Netlink: a new pod's rules may go over netlink (rulesWriter auto).
	Netlink bool
}

// FieldError is a bad value, naming its key.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Problem) }

// Resolve fills in the defaults and parses the values, or names the first
// key whose value is wrong.
func (s *Settings) Resolve() (Parsed, error) {
	fill(&s.AgentSocket, DefaultAgentSocket)
	fill(&s.RunDir, DefaultRunDir)
	fill(&s.MeshNamespace, DefaultMeshNamespace)
	fill(&s.MeshConfigName, DefaultMeshConfigName)
	if s.ExcludeNamespaces == nil {
		s.ExcludeNamespaces = DefaultExcludeNamespaces
	}
	if s.SidecarContainerNames == nil {
		s.SidecarContainerNames = DefaultSidecarContainerNames
	}
	if len(s.SidecarContainerNames) == 0 {
		// No pod would be meshed: every one would start without rules.
		return Parsed{}, &FieldError{"sidecarContainerNames", "empty list: no pod would get rules (leave the key out for the default, " + strings.Join(DefaultSidecarContainerNames, ", ") + ")"}
	}
	for _, n := range s.SidecarContainerNames {
		if strings.TrimSpace(n) == "" {
			return Parsed{}, &FieldError{"sidecarContainerNames", "empty container name"}
		}
	}
	var p Parsed
	var err error
	if s.Profile != "" && s.Profile != ProfileAuto {
		if p.Profile, err = rules.ParseProfile(s.Profile); err != nil {
			return Parsed{}, &FieldError{"profile", fmt.Sprintf("unknown profile %q (want %s, %s, %s or %s)", s.Profile, ProfileAuto, rules.ProfileOSMv0, rules.ProfileOSMv10, rules.ProfileOSMv1)}
		}
	}
	if p.LogLevel, err = parseLogLevel(s.LogLevel); err != nil {
		return Parsed{}, &FieldError{"logLevel", err.Error()}
	}
	p.APITimeout = DefaultAPITimeout
	if s.APITimeout != "" {
		d, err := time.ParseDuration(s.APITimeout)
		if err != nil || d <= 0 {
			return Parsed{}, &FieldError{"apiTimeout", fmt.Sprintf("invalid duration %q (want e.g. \"3s\")", s.APITimeout)}
		}
		p.APITimeout = d
	}
	switch s.RulesWriter {
	case "", WriterAuto:
		p.Netlink = true
	case WriterIptablesRestore:
	default:
		return Parsed{}, &FieldError{"rulesWriter", fmt.Sprintf("invalid value %q (want %s or %s)", s.RulesWriter, WriterAuto, WriterIptablesRestore)}
	}
	return p, nil
}

func fill(v *string, def string) {
	if *v == "" {
		*v = def
	}
}

func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", s)
}
