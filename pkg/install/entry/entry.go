// Package entry builds mesh-cni's plugin object for the CNI chain from the
// settings an operator puts in the ConfigMap.
package entry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// PluginType is the CNI "type" of our plugin: the binary's name in the CNI
// bin dir, and how the installer recognises its own entry in a chain.
const PluginType = "mesh-cni"

// Settings are the plugin settings an operator may set. They are the
// plugin's own configuration keys; the installer adds "kubeconfig" itself.
type Settings struct {
	MeshNamespace         string   `json:"meshNamespace,omitempty"`
	MeshConfigName        string   `json:"meshConfigName,omitempty"`
	Profile               string   `json:"profile,omitempty"`
	ExcludeNamespaces     []string `json:"excludeNamespaces,omitempty"`
	SidecarContainerNames []string `json:"sidecarContainerNames,omitempty"`
	LogLevel              string   `json:"logLevel,omitempty"`
	APITimeout            string   `json:"apiTimeout,omitempty"`
}

// plugin is the object written into the chain; the field order is the
// order in the file, type first as CNI configs conventionally are.
type plugin struct {
	Type       string `json:"type"`
	Kubeconfig string `json:"kubeconfig"`
	Settings
}

// Parse reads settings from JSON. Unknown keys are refused here, at
// install time, because the plugin refuses them at pod ADD time, where the
// mistake would stop every pod on the node instead of one DaemonSet pod.
func Parse(data []byte) (Settings, error) {
	var s Settings
	if len(bytes.TrimSpace(data)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("plugin settings: %w (allowed keys: meshNamespace, meshConfigName, profile, excludeNamespaces, sidecarContainerNames, logLevel, apiTimeout)", err)
	}
	if dec.More() {
		return s, fmt.Errorf("plugin settings: more than one JSON object")
	}
	return s, s.validate()
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

func (s Settings) validate() error {
	switch s.Profile {
	case "", "osm-v0", "osm-v1":
	default:
		return fmt.Errorf("plugin settings: profile %q: want osm-v0 or osm-v1", s.Profile)
	}
	if s.APITimeout != "" {
		d, err := time.ParseDuration(s.APITimeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("plugin settings: apiTimeout %q: want a positive duration such as \"2s\"", s.APITimeout)
		}
	}
	return nil
}

// JSON returns our chain entry: the settings plus the kubeconfig path.
func (s Settings) JSON(kubeconfig string) ([]byte, error) {
	data, err := json.Marshal(plugin{Type: PluginType, Kubeconfig: kubeconfig, Settings: s})
	if err != nil {
		return nil, fmt.Errorf("encoding our entry: %w", err)
	}
	return data, nil
}
