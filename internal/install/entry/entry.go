// Package entry builds mesh-cni's plugin object for the CNI chain from the
// settings an operator puts in the ConfigMap.
package entry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// PluginType is the CNI "type" of our plugin: the binary's name in the CNI
// bin dir, and how the installer recognises its own entry in a chain.
const PluginType = "mesh-cni"

// Settings are the plugin settings an operator may set: the plugin's own
// configuration keys (internal/settings), less "agentSocket" and "runDir",
// which the installer writes itself.
type Settings struct {
	settings.Settings
}

// plugin is the object written into the chain; the field order is the
// order in the file, type first as CNI configs conventionally are.
type plugin struct {
	Type string `json:"type"`
	settings.Settings
}

// Parse reads settings from JSON and checks them with the plugin's own
// rules: a mistake refused here, at install time, stops one DaemonSet pod;
// the same mistake in the chain would stop every pod ADD on the node.
func Parse(data []byte) (Settings, error) {
	var s Settings
	if len(bytes.TrimSpace(data)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Settings); err != nil {
		return s, fmt.Errorf("plugin settings: %w (allowed keys: %s, except agentSocket and runDir)", err, settings.Keys)
	}
	if dec.More() {
		return s, fmt.Errorf("plugin settings: more than one JSON object")
	}
	if s.AgentSocket != "" {
		return s, fmt.Errorf("plugin settings: field \"agentSocket\" is written by the installer (the node agent's socket in its run dir); remove it")
	}
	if s.RunDir != "" {
		return s, fmt.Errorf("plugin settings: field \"runDir\" is written by the installer (its --run-dir); remove it")
	}
	// Resolve fills in defaults; validate a copy so that the entry keeps
	// only what the operator wrote.
	check := s.Settings
	if _, err := check.Resolve(); err != nil {
		return s, fmt.Errorf("plugin settings: %w", err)
	}
	return s, nil
}

// Load reads settings from the file at path; an empty path means none.
func Load(path string) (Settings, error) {
	if path == "" {
		return Settings{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, fmt.Errorf("reading %s: %w", path, err)
	}
	s, err := Parse(data)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// JSON returns our chain entry: the settings plus the agent's socket and
// the run directory.
func (s Settings) JSON(agentSocket, runDir string) ([]byte, error) {
	p := plugin{Type: PluginType, Settings: s.Settings}
	p.AgentSocket, p.RunDir = agentSocket, runDir
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding our entry: %w", err)
	}
	return data, nil
}
