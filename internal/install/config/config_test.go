package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(Config) bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.NodeName == "node-1" && c.PluginSource == "/mesh-cni" && strings.Join(c.BinDirs, ",") == "/host/opt/cni/bin" &&
				c.ConfDir == "/host/etc/cni/net.d" && c.RunDir == "/var/run/mesh-cni" && !c.SkipCleanup &&
				c.FightThreshold == 5 && c.FightWindow == time.Minute && c.ListenAddress == "127.0.0.1:9890" &&
				c.Repair == "delete" && c.RepairInterval == 10*time.Second
		}},
		{"repair by label", nil, map[string]string{"MESH_CNI_REPAIR": "label"}, func(c Config) bool { return c.Repair == "label" }},
		{"env", nil, map[string]string{"MESH_CNI_BIN_DIRS": "/a, /home/kubernetes/bin", "CNI_CONF_NAME": "10-x.conflist", "MESH_CNI_SKIP_CLEANUP": "true", "KUBERNETES_SERVICE_HOST": "10.96.0.1"},
			func(c Config) bool {
				return strings.Join(c.BinDirs, ",") == "/a,/home/kubernetes/bin" && c.ConfName == "10-x.conflist" && c.SkipCleanup && c.KubeHost == "10.96.0.1"
			}},
		{"flag wins over env", []string{"--cni-conf-dir=/flag", "--skip-cleanup=false"}, map[string]string{"MESH_CNI_CONF_DIR": "/env", "MESH_CNI_SKIP_CLEANUP": "true"},
			func(c Config) bool { return c.ConfDir == "/flag" && !c.SkipCleanup }},
		{"bare bool flag", []string{"--skip-cleanup"}, nil, func(c Config) bool { return c.SkipCleanup }},
		{"node name flag", []string{"--node-name=node-2"}, nil, func(c Config) bool { return c.NodeName == "node-2" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.args, withNode(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		noNode  bool
		wantErr string
	}{
		{"no node name", nil, nil, true, "--node-name (MESH_CNI_NODE_NAME) must be set"},
		{"bad env duration", nil, map[string]string{"MESH_CNI_FIGHT_WINDOW": "soon"}, false, "MESH_CNI_FIGHT_WINDOW"},
		{"bad flag int", []string{"--fight-threshold=x"}, nil, false, "fight-threshold"},
		{"zero threshold", []string{"--fight-threshold=0"}, nil, false, "must be positive"},
		{"path as conf name", []string{"--cni-conf-name=/etc/cni/net.d/x.conf"}, nil, false, "not a path"},
		{"empty bin dirs", []string{"--cni-bin-dirs=,"}, nil, false, "--cni-bin-dirs is empty"},
		{"bad log format", []string{"--log-format=xml"}, nil, false, "xml"},
		{"stray argument", []string{"install"}, nil, false, "unexpected arguments"},
		{"bad repair mode", []string{"--repair=fix"}, nil, false, `--repair "fix"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := withNode(tc.env)
			if tc.noNode {
				getenv = func(k string) string { return tc.env[k] }
			}
			_, err := Parse(tc.args, getenv, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHelpNamesEveryVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := Parse([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help error = %v", err)
	}
	for _, s := range (&Config{}).settings() {
		if !strings.Contains(out.String(), "-"+s.flag) || !strings.Contains(out.String(), "env "+s.env) {
			t.Errorf("help lacks --%s or %s:\n%s", s.flag, s.env, out.String())
		}
	}
}

// withNode is env plus the node name, which every valid configuration has.
func withNode(env map[string]string) func(string) string {
	return func(k string) string {
		if k == "MESH_CNI_NODE_NAME" && env[k] == "" {
			return "node-1"
		}
		return env[k]
	}
}
