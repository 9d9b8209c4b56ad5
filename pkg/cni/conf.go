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

	"github.com/mesh-cni/mesh-cni/pkg/cni/settings"
	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// DefaultLockDir holds the per-netns xtables locks Apply takes.
const DefaultLockDir = rules.DefaultLockDir

// NetConf is mesh-cni's entry in a conflist, as the runtime hands it over
// with the previous plugin's result. Unknown keys are errors, so every key
// a runtime may send must be here.
type NetConf struct {
	// The keys SPEC.md section 1 ("Plugin configuration objects") and
	// section 3 ("Deriving request configuration from plugin
	// configuration") define, typed as libcni's PluginConf had them so
	// that the same configs pass and fail. Only cniVersion and prevResult
	// are used; the protocol layer (protocol.go) checks cniVersion and name.
	CNIVersion       string          `json:"cniVersion,omitempty"`
	Name             string          `json:"name,omitempty"`
	Type             string          `json:"type,omitempty"`
	Capabilities     map[string]bool `json:"capabilities,omitempty"`
	IPAM             ipamConf        `json:"ipam,omitempty"`
	DNS              resultDNS       `json:"dns,omitempty"`
	RawPrevResult    json.RawMessage `json:"prevResult,omitempty"`
	ValidAttachments []gcAttachment  `json:"cni.dev/valid-attachments,omitempty"`
	// RuntimeConfig and Args are conventions a runtime may add, and
	// Attachments the GC key libcni sends beside cni.dev/valid-attachments;
	// accepted and unused.
	RuntimeConfig json.RawMessage `json:"runtimeConfig,omitempty"`
	Args          json.RawMessage `json:"args,omitempty"`
	Attachments   json.RawMessage `json:"cni.dev/attachments,omitempty"`

	// Settings are mesh-cni's own keys, shared with the installer.
	settings.Settings

	// Parsed forms, filled by parseConf; prev is nil without prevResult.
	prev       *result
	profile    rules.Profile
	logLevel   slog.Level
	apiTimeout time.Duration
	// netlink: a new pod's rules may go over netlink (rulesWriter).
	netlink bool
}

// ipamConf is the config's "ipam" object, of which only the type is
// defined for a plugin that delegates to no IPAM plugin.
type ipamConf struct {
	Type string `json:"type,omitempty"`
}

// gcAttachment is one of GC's still-valid attachments (SPEC.md section 2,
// "GC").
type gcAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
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
	// "prevResult": null is no prevResult, as it was with libcni.
	if len(conf.RawPrevResult) == 0 || string(conf.RawPrevResult) == "null" {
		if requirePrev {
			return nil, errors.New("mesh-cni network config: no prevResult: mesh-cni is a chained plugin and must follow the primary CNI plugin in a conflist")
		}
		return conf, nil
	}
	prev, err := parseResult(conf.RawPrevResult, conf.CNIVersion)
	if err != nil {
		return nil, fmt.Errorf("mesh-cni network config: field \"prevResult\": %w", err)
	}
	conf.prev = prev
	return conf, nil
}

// decodeError turns encoding/json's errors into ones naming the field.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// encoding/json names the Go path of an embedded struct's field
		// (Settings.excludeNamespaces); people know the JSON key.
		field := strings.TrimPrefix(typeErr.Field, "Settings.")
		return fmt.Errorf("mesh-cni network config: %w", &settings.FieldError{Field: field, Problem: fmt.Sprintf("want %s, got JSON %s", typeErr.Type, typeErr.Value)})
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("mesh-cni network config: unknown field %s", strings.TrimPrefix(msg, "json: unknown field "))
	}
	return fmt.Errorf("mesh-cni network config: %w", err)
}

func (c *NetConf) defaults() error {
	p, err := c.Settings.Resolve()
	if err != nil {
		return fmt.Errorf("mesh-cni network config: %w", err)
	}
	c.profile, c.logLevel, c.apiTimeout, c.netlink = p.Profile, p.LogLevel, p.APITimeout, p.Netlink
	return nil
}
