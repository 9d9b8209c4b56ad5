package cni

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/pkg/cni/settings"
	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

func TestParseConfFiles(t *testing.T) {
	tests := []struct {
		file        string
		profile     rules.Profile
		exclude     []string
		sidecars    []string
		level       slog.Level
		timeout     time.Duration
		socket      string
		wantFamilys int
	}{
		{"netconf-bridge-1.0.0.json", rules.ProfileOSMv1, []string{"kube-system", "mesh-cni", "monitoring"}, []string{"envoy"}, slog.LevelDebug, 1500 * time.Millisecond, "/run/mesh-cni/agent.sock", 2},
		{"netconf-minimal-0.3.1.json", "", settings.DefaultExcludeNamespaces, settings.DefaultSidecarContainerNames, slog.LevelInfo, settings.DefaultAPITimeout, settings.DefaultAgentSocket, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			conf, err := parseConf(data, true)
			if err != nil {
				t.Fatalf("parseConf: %v", err)
			}
			if conf.profile != tt.profile || conf.logLevel != tt.level || conf.apiTimeout != tt.timeout || conf.AgentSocket != tt.socket {
				t.Errorf("got profile %s level %s timeout %s agentSocket %s", conf.profile, conf.logLevel, conf.apiTimeout, conf.AgentSocket)
			}
			if !slices.Equal(conf.ExcludeNamespaces, tt.exclude) || !slices.Equal(conf.SidecarContainerNames, tt.sidecars) {
				t.Errorf("got exclude %v sidecars %v", conf.ExcludeNamespaces, conf.SidecarContainerNames)
			}
			if conf.MeshNamespace != settings.DefaultMeshNamespace || conf.MeshConfigName != settings.DefaultMeshConfigName {
				t.Errorf("got mesh %s/%s", conf.MeshNamespace, conf.MeshConfigName)
			}
			ips, err := podIPs(conf.prev)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(families(ips)); got != tt.wantFamilys {
				t.Errorf("families(%v) = %d, want %d", ips, got, tt.wantFamilys)
			}
		})
	}
}

func TestParseConfErrors(t *testing.T) {
	const prev = `"prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.220.0.5/24"}]}`
	tests := []struct {
		name, json, want string
		requirePrev      bool
	}{
		{"unknown field", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","meshNamespce":"osm",` + prev + `}`, `unknown field "meshNamespce"`, true},
		{"wrong type", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","excludeNamespaces":"kube-system",` + prev + `}`, `field "excludeNamespaces"`, true},
		{"bad profile", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","profile":"istio",` + prev + `}`, `field "profile": unknown profile "istio"`, true},
		{"bad timeout", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","apiTimeout":"soon",` + prev + `}`, `field "apiTimeout": invalid duration "soon"`, true},
		{"negative timeout", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","apiTimeout":"-1s",` + prev + `}`, `field "apiTimeout"`, true},
		{"bad log level", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","logLevel":"loud",` + prev + `}`, `field "logLevel": invalid log level "loud"`, true},
		{"empty sidecar", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","sidecarContainerNames":[""],` + prev + `}`, `field "sidecarContainerNames"`, true},
		{"no prevResult", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni"}`, `no prevResult: mesh-cni is a chained plugin`, true},
		{"bad prevResult", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","prevResult":{"cniVersion":"9.9.9"}}`, `field "prevResult"`, true},
		{"not JSON", `{"cniVersion":`, `mesh-cni network config`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConf([]byte(tt.json), tt.requirePrev)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseConf error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseConfNoPrevResultForDel(t *testing.T) {
	conf, err := parseConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"mesh-cni"}`), false)
	if err != nil || conf.prev != nil {
		t.Fatalf("parseConf = %v, %v; want no error and no prevResult", conf, err)
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args string
		want podRef
		k8s  bool
	}{
		{"IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1", podRef{"test", "web-1", "u-1"}, true},
		{"K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;SOMETHING_ELSE=x", podRef{"test", "web-1", ""}, true},
		{"", podRef{}, false},
		{"K8S_POD_NAMESPACE=test", podRef{Namespace: "test"}, false},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.args)
		if err != nil || got != tt.want || got.isKubernetes() != tt.k8s {
			t.Errorf("parseArgs(%q) = %+v, %v; want %+v (kubernetes %v)", tt.args, got, err, tt.want, tt.k8s)
		}
	}
	if _, err := parseArgs("K8S_POD_NAME"); err == nil {
		t.Error("parseArgs of a key without value: want an error")
	}
}

// TestWireDir: the record of the netlink writer's comparison sits beside
// the agent's socket, in mesh-cni's run directory; rulesWriter
// iptables-restore keeps every pod on iptables-restore.
func TestWireDir(t *testing.T) {
	for _, tt := range []struct{ settings, want string }{
		{``, "/var/run/mesh-cni"},
		{`,"agentSocket":"/run/x/agent.sock","rulesWriter":"auto"`, "/run/x"},
		{`,"rulesWriter":"iptables-restore"`, ""},
	} {
		conf, err := parseConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"mesh-cni"`+tt.settings+`}`), false)
		if err != nil {
			t.Fatal(err)
		}
		if got := wireDir(conf); got != tt.want {
			t.Errorf("wireDir with %s = %q, want %q", tt.settings, got, tt.want)
		}
	}
}
