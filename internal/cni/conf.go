// Package cni is mesh-cni's plugin logic: its network config, CNI_ARGS,
// the decision whether a pod is in scope, gathering the mesh configuration
// from Kubernetes, entering the pod's netns to apply the rules, the result
// and the events. Each step of DESIGN.md's "One ADD, step by step" has a
// file of its name here.
package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// DefaultLockDir holds the per-netns xtables locks Apply takes.
const DefaultLockDir = apply.DefaultLockDir

// NetConf is mesh-cni's entry in a conflist, as the runtime hands it over
// with the previous plugin's result: libcni's plugin configuration and
// mesh-cni's settings. A key it does not know is logged and ignored
// (unknownKeys); a known key with a bad value is an error naming it.
type NetConf struct {
	types.NetConf

	// Settings are mesh-cni's own keys, shared with the installer.
	settings.Settings

	// Parsed forms, filled by parseConf.
	profile    rules.Profile
	logLevel   slog.Level
	apiTimeout time.Duration
	// netlink: a new pod's rules may go over netlink (rulesWriter).
	netlink bool
	// unknown are the config's top-level keys mesh-cni does not know.
	unknown []string
}

// parseConf decodes and validates the network config, fills in defaults and
// parses prevResult. requirePrev is false only for DEL, STATUS and GC,
// which the runtime calls without one.
func parseConf(data []byte, requirePrev bool) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(data, conf); err != nil {
		return nil, decodeError(err)
	}
	unknown, err := unknownKeys(data)
	if err != nil {
		return nil, fmt.Errorf("mesh-cni network config: %w", err)
	}
	conf.unknown = unknown
	if err := conf.defaults(); err != nil {
		return nil, err
	}
	// skel refuses other versions before the plugin runs; the check here
	// keeps the promise that an accepted prevResult is one podIPs reads.
	if !slices.Contains(pluginInfo.SupportedVersions(), conf.CNIVersion) {
		return nil, fmt.Errorf("mesh-cni network config: %w", &settings.FieldError{Field: "cniVersion",
			Problem: fmt.Sprintf("%q is not a version mesh-cni speaks (%s)", conf.CNIVersion, strings.Join(pluginInfo.SupportedVersions(), ", "))})
	}
	// "prevResult": null is no prevResult, as libcni has it.
	if conf.RawPrevResult == nil {
		if requirePrev {
			return nil, errors.New("mesh-cni network config: no prevResult: mesh-cni is a chained plugin and must follow the primary CNI plugin in a conflist")
		}
		return conf, nil
	}
	if err := checkPrevVersion(conf.RawPrevResult, conf.CNIVersion); err != nil {
		return nil, fmt.Errorf("mesh-cni network config: field \"prevResult\": %w", err)
	}
	if err := version.ParsePrevResult(&conf.NetConf); err != nil {
		return nil, fmt.Errorf("mesh-cni network config: field \"prevResult\": %w", err)
	}
	return conf, nil
}

// checkPrevVersion requires prevResult in the config's own version, where
// libcni would take one without a version for the config's and convert
// another: a runtime hands prevResult over in the conflist's version
// (libcni does), so a different one was not made by the chain mesh-cni is
// in, and what mesh-cni passes on must be what the previous plugin made.
func checkPrevVersion(prev map[string]any, confVersion string) error {
	got, _ := prev["cniVersion"].(string)
	switch got {
	case confVersion:
		return nil
	case "":
		return fmt.Errorf("prevResult has no cniVersion, the config has %s: mesh-cni passes prevResult through as it is and needs it in the config's version", confVersion)
	}
	return fmt.Errorf("prevResult has cniVersion %s, the config has %s: mesh-cni passes prevResult through as it is and needs it in the config's version", got, confVersion)
}

// decodeError names the key whose value has the wrong JSON type.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// encoding/json names the Go path of an embedded struct's field
		// (Settings.excludeNamespaces); people know the JSON key.
		field := typeErr.Field
		for _, embedded := range []string{"NetConf.", "Settings."} {
			field = strings.TrimPrefix(field, embedded)
		}
		return fmt.Errorf("mesh-cni network config: %w", &settings.FieldError{Field: field, Problem: fmt.Sprintf("want %s, got JSON %s", typeErr.Type, typeErr.Value)})
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

// warnUnknown logs the config's unknown keys, once per invocation, for the
// operator who misspelt one of mesh-cni's.
func (c *NetConf) warnUnknown(log *slog.Logger) {
	if len(c.unknown) > 0 {
		log.Warn("ignoring keys of the network config that mesh-cni does not know", "keys", strings.Join(c.unknown, ","))
	}
}

// unknownKeys lists, sorted, the top-level keys of the config that
// NetConf does not decode and that SPEC.md section 1 does not reserve for
// the runtime ("runtimeConfig", "args", "cni.dev/..."). They are not
// errors: runtimes, libcni and tools add keys as the spec allows, and an
// error here would fail the ADD of every pod on the node, kube-system's
// included. The installer refuses unknown settings before it writes the
// entry (internal/install/entry).
func unknownKeys(data []byte) ([]string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	known := jsonKeys(reflect.TypeFor[NetConf](), nil)
	var unknown []string
	for key := range top {
		// encoding/json matches keys to fields without regard to case.
		isKnown := slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, key) })
		if !isKnown && key != "runtimeConfig" && key != "args" && !strings.HasPrefix(key, "cni.dev/") {
			unknown = append(unknown, key)
		}
	}
	slices.Sort(unknown)
	return unknown, nil
}

// jsonKeys appends the JSON keys of struct type t to keys, those of its
// embedded structs included, as encoding/json names them.
func jsonKeys(t reflect.Type, keys []string) []string {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			keys = jsonKeys(f.Type, keys)
		case name == "":
			keys = append(keys, f.Name)
		default:
			keys = append(keys, name)
		}
	}
	return keys
}
