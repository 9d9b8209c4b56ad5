// Package cni is mesh-cni's plugin logic: its network config, CNI_ARGS,
// the decision whether a pod is in scope, gathering the mesh configuration
// from Kubernetes, entering the pod's netns to apply the rules, the result
// and the events. Each step of DESIGN.md's "One ADD, step by step" has a
// file of its name here.
package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// Defaults of the network config.
const (
	DefaultKubeconfig     = "/var/run/mesh-cni/kubeconfig"
	DefaultMeshNamespace  = "osm-system"
	DefaultMeshConfigName = "osm-mesh-config"
	// DefaultOwnNamespace is where deploy/ runs mesh-cni's DaemonSet.
	DefaultOwnNamespace = "mesh-cni"
	DefaultAPITimeout   = 3 * time.Second
	// DefaultLockDir holds the per-netns xtables locks Apply takes.
	DefaultLockDir = "/run/mesh-cni/xtables"
)

// DefaultExcludeNamespaces are never meshed by mesh-cni: the control
// plane's and mesh-cni's own pods must start even when the API is down.
var DefaultExcludeNamespaces = []string{"kube-system", DefaultOwnNamespace}

// DefaultSidecarContainerNames are OSM's (envoy) and osm-edge's (sidecar).
var DefaultSidecarContainerNames = []string{"envoy", "sidecar"}

// NetConf is mesh-cni's entry in a conflist, as the runtime hands it over
// with the previous plugin's result.
type NetConf struct {
	types.PluginConf
	// RuntimeConfig and Args are conventions a runtime may add, and
	// Attachments the GC key libcni sends beside cni.dev/valid-attachments;
	// accepted and unused.
	RuntimeConfig json.RawMessage `json:"runtimeConfig,omitempty"`
	Args          json.RawMessage `json:"args,omitempty"`
	Attachments   json.RawMessage `json:"cni.dev/attachments,omitempty"`

	Kubeconfig            string   `json:"kubeconfig"`
	MeshNamespace         string   `json:"meshNamespace"`
	MeshConfigName        string   `json:"meshConfigName"`
	Profile               string   `json:"profile"`
	ExcludeNamespaces     []string `json:"excludeNamespaces"`
	SidecarContainerNames []string `json:"sidecarContainerNames"`
	LogLevel              string   `json:"logLevel"`
	APITimeout            string   `json:"apiTimeout"`

	// Parsed forms, filled by parseConf.
	profile    rules.Profile
	logLevel   slog.Level
	apiTimeout time.Duration
}

// fieldError is a config error that names its field.
func fieldError(field string, format string, args ...any) error {
	return fmt.Errorf("mesh-cni network config: field %q: %s", field, fmt.Sprintf(format, args...))
}

// parseConf decodes and validates the network config, fills in defaults and
// parses prevResult. requirePrev is false only for DEL, STATUS and GC,
// which the runtime calls without one.
func parseConf(data []byte, requirePrev bool) (*NetConf, error) {
	conf := &NetConf{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(conf); err != nil {
		return nil, decodeError(err)
	}
	if err := conf.defaults(); err != nil {
		return nil, err
	}
	if conf.RawPrevResult == nil {
		if requirePrev {
			return nil, errors.New("mesh-cni network config: no prevResult: mesh-cni is a chained plugin and must follow the primary CNI plugin in a conflist")
		}
		return conf, nil
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, fmt.Errorf("mesh-cni network config: field \"prevResult\": %w", err)
	}
	return conf, nil
}

// decodeError turns encoding/json's errors into ones naming the field.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fieldError(typeErr.Field, "want %s, got JSON %s", typeErr.Type, typeErr.Value)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("mesh-cni network config: unknown field %s", strings.TrimPrefix(msg, "json: unknown field "))
	}
	return fmt.Errorf("mesh-cni network config: %w", err)
}

func (c *NetConf) defaults() error {
	if c.Kubeconfig == "" {
		c.Kubeconfig = DefaultKubeconfig
	}
	if c.MeshNamespace == "" {
		c.MeshNamespace = DefaultMeshNamespace
	}
	if c.MeshConfigName == "" {
		c.MeshConfigName = DefaultMeshConfigName
	}
	if c.ExcludeNamespaces == nil {
		c.ExcludeNamespaces = DefaultExcludeNamespaces
	}
	if c.SidecarContainerNames == nil {
		c.SidecarContainerNames = DefaultSidecarContainerNames
	}
	for _, n := range c.SidecarContainerNames {
		if strings.TrimSpace(n) == "" {
			return fieldError("sidecarContainerNames", "empty container name")
		}
	}
	var err error
	if c.profile, err = rules.ParseProfile(c.Profile); err != nil {
		return fieldError("profile", "%v", err)
	}
	if c.logLevel, err = parseLogLevel(c.LogLevel); err != nil {
		return fieldError("logLevel", "%v", err)
	}
	c.apiTimeout = DefaultAPITimeout
	if c.APITimeout != "" {
		d, err := time.ParseDuration(c.APITimeout)
		if err != nil || d <= 0 {
			return fieldError("apiTimeout", "invalid duration %q (want e.g. \"3s\")", c.APITimeout)
		}
		c.apiTimeout = d
	}
	return nil
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
