package entry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAndJSON(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"empty", "", `{"type":"mesh-cni","agentSocket":"/k","runDir":"/r"}`, ""},
		{"all keys",
			`{"meshNamespace":"osm","meshConfigName":"cfg","profile":"osm-v1","excludeNamespaces":["a","b"],"sidecarContainerNames":["envoy"],"logLevel":"debug","apiTimeout":"2s"}`,
			`{"type":"mesh-cni","agentSocket":"/k","runDir":"/r","meshNamespace":"osm","meshConfigName":"cfg","profile":"osm-v1","excludeNamespaces":["a","b"],"sidecarContainerNames":["envoy"],"logLevel":"debug","apiTimeout":"2s"}`,
			""},
		{"unknown key", `{"meshNamespce":"osm"}`, "", `unknown field "meshNamespce"`},
		{"agentSocket is ours", `{"agentSocket":"/x"}`, "", `field "agentSocket" is written by the installer`},
		{"bad profile", `{"profile":"istio"}`, "", `plugin settings: field "profile": unknown profile "istio"`},
		{"bad timeout", `{"apiTimeout":"2"}`, "", `plugin settings: field "apiTimeout": invalid duration "2"`},
		{"negative timeout", `{"apiTimeout":"-1s"}`, "", `plugin settings: field "apiTimeout": invalid duration "-1s"`},
		{"bad log level", `{"logLevel":"verbose"}`, "", `plugin settings: field "logLevel": invalid log level "verbose"`},
		{"empty sidecar name", `{"sidecarContainerNames":[""]}`, "", `plugin settings: field "sidecarContainerNames": empty container name`},
		{"two objects", `{} {}`, "", "more than one"},
		{"wrong type", `{"excludeNamespaces":"a"}`, "", "excludeNamespaces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.JSON("/k", "/r")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("JSON:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if s, err := Load(""); err != nil || s.Profile != "" {
		t.Errorf("Load(\"\") = %+v, %v", s, err)
	}
	p := filepath.Join(t.TempDir(), "plugin.json")
	if err := os.WriteFile(p, []byte(`{"profile":"osm-v0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := Load(p); err != nil || s.Profile != "osm-v0" {
		t.Errorf("Load = %+v, %v", s, err)
	}
	if _, err := Load(p + ".missing"); err == nil || !strings.Contains(err.Error(), "plugin.json.missing") {
		t.Errorf("Load(missing) error %v does not name the file", err)
	}
}
