package entry

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// FuzzParse: no plugin.json makes Parse panic; a refusal says it is the
// plugin settings; accepted settings make an entry of type mesh-cni, first,
// that the plugin's own settings accept, with nothing unknown, and that
// reads back as the settings written, with the installer's two keys.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "configmap.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	var cm struct{ Data map[string]string }
	if err := yaml.Unmarshal(data, &cm); err != nil || cm.Data["plugin.json"] == "" {
		f.Fatalf("deploy/configmap.yaml has no plugin.json: %v", err)
	}
	for _, s := range []string{cm.Data["plugin.json"], "", `{"profile":"osm-v0","excludeNamespaces":[]}`, `{"agentSocket":"/x"}`, `{} {}`, `{"apiTimeout":"-1s"}`, `{"PROFILE":"osm-v1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "plugin settings: ") {
				t.Fatalf("refusal %q does not name the plugin settings", err)
			}
			return
		}
		out, err := s.JSON("/run/mesh-cni/agent.sock", "/run/mesh-cni")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out, []byte(`{"type":"mesh-cni",`)) {
			t.Fatalf("entry %s does not start with its type", out)
		}
		var back settings.Settings
		dec := json.NewDecoder(bytes.NewReader(bytes.Replace(out, []byte(`"type":"mesh-cni",`), nil, 1)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("the entry %s holds what the plugin does not know: %v", out, err)
		}
		if back.AgentSocket != "/run/mesh-cni/agent.sock" || back.RunDir != "/run/mesh-cni" {
			t.Fatalf("entry %s lacks the installer's keys", out)
		}
		back.AgentSocket, back.RunDir = "", ""
		if !reflect.DeepEqual(back, s.Settings) {
			t.Fatalf("entry %s reads back as %+v, want %+v", out, back, s.Settings)
		}
		if _, err := back.Resolve(); err != nil {
			t.Fatalf("the plugin refuses the entry %s: %v", out, err)
		}
	})
}
