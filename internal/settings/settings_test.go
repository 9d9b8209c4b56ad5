package settings

import (
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		in      Settings
		want    Parsed
		wantErr string
	}{
		{"defaults: profile auto", Settings{}, Parsed{"", slog.LevelInfo, DefaultAPITimeout, true}, ""},
		{"all set", Settings{Profile: "osm-v1", LogLevel: "DEBUG", APITimeout: "750ms", RulesWriter: "iptables-restore"}, Parsed{rules.ProfileOSMv1, slog.LevelDebug, 750 * time.Millisecond, false}, ""},
		{"auto named", Settings{Profile: "auto"}, Parsed{"", slog.LevelInfo, DefaultAPITimeout, true}, ""},
		{"osm-v1.0", Settings{Profile: "osm-v1.0"}, Parsed{rules.ProfileOSMv10, slog.LevelInfo, DefaultAPITimeout, true}, ""},
		{"writer auto", Settings{RulesWriter: "auto", Profile: "osm-v0"}, Parsed{rules.ProfileOSMv0, slog.LevelInfo, DefaultAPITimeout, true}, ""},
		{"bad writer", Settings{RulesWriter: "netlink"}, Parsed{}, `field "rulesWriter": invalid value "netlink" (want auto or iptables-restore)`},
		{"bad profile", Settings{Profile: "osm-v2"}, Parsed{}, `field "profile": unknown profile "osm-v2" (want auto, osm-v0, osm-v1.0 or osm-v1)`},
		{"bad log level", Settings{LogLevel: "loud"}, Parsed{}, `field "logLevel": invalid log level "loud" (want debug, info, warn or error)`},
		{"bad timeout", Settings{APITimeout: "3"}, Parsed{}, `field "apiTimeout": invalid duration "3" (want e.g. "3s")`},
		{"negative timeout", Settings{APITimeout: "-1s"}, Parsed{}, `field "apiTimeout": invalid duration "-1s" (want e.g. "3s")`},
		{"empty sidecar name", Settings{SidecarContainerNames: []string{"envoy", " "}}, Parsed{}, `field "sidecarContainerNames": empty container name`},
		{"no sidecar names", Settings{SidecarContainerNames: []string{}}, Parsed{}, `field "sidecarContainerNames": empty list: no pod would get rules (leave the key out for the default, envoy, sidecar)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.in
			got, err := s.Resolve()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve = %+v, %v; want %+v", got, err, tt.want)
			}
			if s.AgentSocket != DefaultAgentSocket || s.MeshNamespace != DefaultMeshNamespace || s.MeshConfigName != DefaultMeshConfigName ||
				!slices.Equal(s.ExcludeNamespaces, DefaultExcludeNamespaces) || !slices.Equal(s.SidecarContainerNames, DefaultSidecarContainerNames) {
				t.Errorf("defaults not filled in: %+v", s)
			}
		})
	}
}

// TestEmptyExcludeListIsKept: an empty excludeNamespaces, written by the
// operator, excludes nothing, and survives the installer's encoding of the
// entry; only an absent list is the default.
func TestEmptyExcludeListIsKept(t *testing.T) {
	var s Settings
	if err := json.Unmarshal([]byte(`{"excludeNamespaces":[]}`), &s); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(s)
	if err != nil || string(out) != `{"excludeNamespaces":[]}` {
		t.Fatalf("encoded as %s, %v", out, err)
	}
	if _, err := s.Resolve(); err != nil || s.ExcludeNamespaces == nil || len(s.ExcludeNamespaces) != 0 {
		t.Fatalf("Resolve made the empty list %v (%v)", s.ExcludeNamespaces, err)
	}
	if out, _ := json.Marshal(Settings{}); string(out) != `{}` {
		t.Errorf("absent lists encoded as %s", out)
	}
}
