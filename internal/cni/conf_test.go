package cni

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/settings"
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
			ips, err := podIPs(conf.PrevResult)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rules.FamiliesOf(ips)); got != tt.wantFamilys {
				t.Errorf("FamiliesOf(%v) = %d, want %d", ips, got, tt.wantFamilys)
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
		{"wrong type", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","excludeNamespaces":"kube-system",` + prev + `}`, `field "excludeNamespaces": want []string, got JSON string`, true},
		{"wrong type of a spec key", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","capabilities":"portMappings",` + prev + `}`, `field "capabilities": want map[string]bool, got JSON string`, true},
		{"wrong type in a spec object", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","ipam":{"type":1},` + prev + `}`, `field "ipam.type": want string, got JSON number`, true},
		{"bad profile", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","profile":"istio",` + prev + `}`, `field "profile": unknown profile "istio"`, true},
		{"bad timeout", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","apiTimeout":"soon",` + prev + `}`, `field "apiTimeout": invalid duration "soon"`, true},
		{"negative timeout", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","apiTimeout":"-1s",` + prev + `}`, `field "apiTimeout"`, true},
		{"bad log level", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","logLevel":"loud",` + prev + `}`, `field "logLevel": invalid log level "loud"`, true},
		{"empty sidecar", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","sidecarContainerNames":[""],` + prev + `}`, `field "sidecarContainerNames"`, true},
		{"no prevResult", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni"}`, `no prevResult: mesh-cni is a chained plugin`, true},
		{"bad prevResult", `{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","prevResult":{"cniVersion":"9.9.9"}}`, `field "prevResult"`, true},
		{"not JSON", `{"cniVersion":`, `mesh-cni network config`, false},
		{"no version", `{"name":"n","type":"mesh-cni","prevResult":{}}`, `field "cniVersion": "" is not a version mesh-cni speaks (0.3.1, 0.4.0, 1.0.0, 1.1.0)`, true},
		{"old version", `{"cniVersion":"0.2.0","name":"n","type":"mesh-cni"}`, `field "cniVersion": "0.2.0" is not a version`, false},
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

// TestUnknownKeysAreIgnored: keys mesh-cni does not know are listed for
// the warning, not errors; the spec's own keys, those the spec reserves
// for the runtime and mesh-cni's are not listed, in any case of letters
// (encoding/json decodes them so).
func TestUnknownKeysAreIgnored(t *testing.T) {
	const prev = `"prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.220.0.5/24"}]}`
	conf, err := parseConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","meshNamespce":"osm","ipMasq":true,"someRuntimeKey":{"a":1},`+
		`"runtimeConfig":{"portMappings":[]},"args":{"cni":{"labels":[]}},"cni.dev/attachments":[],"cni.dev/anything":1,`+
		`"capabilities":{"portMappings":true},"ipam":{},"dns":{},"PROFILE":"osm-v1","agentsocket":"/x.sock",`+prev+`}`), true)
	if err != nil {
		t.Fatalf("parseConf: %v", err)
	}
	if want := []string{"ipMasq", "meshNamespce", "someRuntimeKey"}; !slices.Equal(conf.unknown, want) {
		t.Errorf("unknown keys %v, want %v", conf.unknown, want)
	}
	if conf.profile != rules.ProfileOSMv1 || conf.AgentSocket != "/x.sock" || conf.PrevResult == nil {
		t.Errorf("known keys not decoded: profile %s, agentSocket %s, prevResult %v", conf.profile, conf.AgentSocket, conf.PrevResult)
	}
	if conf, err := parseConf(testdata(t, "netconf-bridge-1.0.0.json"), true); err != nil || conf.unknown != nil {
		t.Errorf("a config of known keys only: unknown keys %v, %v", conf.unknown, err)
	}
}

func TestParseConfNoPrevResultForDel(t *testing.T) {
	conf, err := parseConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"mesh-cni"}`), false)
	if err != nil || conf.PrevResult != nil {
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

// TestWireDir: the record of the netlink writer's comparison sits in
// mesh-cni's run directory (runDir, which the installer writes), wherever
// the agent's socket is; rulesWriter iptables-restore keeps every pod on
// iptables-restore.
func TestWireDir(t *testing.T) {
	for _, tt := range []struct{ settings, want string }{
		{``, "/var/run/mesh-cni"},
		{`,"agentSocket":"/run/x/agent.sock","rulesWriter":"auto"`, "/var/run/mesh-cni"},
		{`,"agentSocket":"/run/x/agent.sock","runDir":"/run/y"`, "/run/y"},
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

// TestUnknownKeyIsWarnedOnce: every command goes on past an unknown key
// and logs one warning naming it; a bad value of a known key still fails.
func TestUnknownKeyIsWarnedOnce(t *testing.T) {
	const conf = `{"cniVersion":"1.1.0","name":"n","type":"mesh-cni","someRuntimeKey":1,"runtimeConfig":{},"args":{},` +
		`"prevResult":{"cniVersion":"1.1.0","ips":[{"address":"10.1.0.5/24"}]}}`
	var logs bytes.Buffer
	logOutput = &logs
	t.Cleanup(func() { logOutput = os.Stderr })
	for _, command := range []string{"ADD", "CHECK", "DEL", "GC", "STATUS"} {
		logs.Reset()
		args := &skel.CmdArgs{ContainerID: "abc", Netns: noNetns, IfName: "eth0", Args: "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x", StdinData: []byte(conf)}
		var err error
		stdoutOf(t, func() { err = handler(testPlugin(), command)(args) })
		var e *types.Error
		// STATUS finds no agent socket at the default path: code 50.
		if err != nil && !(command == "STATUS" && errors.As(err, &e) && e.Code == types.ErrPluginNotAvailable) {
			t.Errorf("%s with an unknown key: %v", command, err)
		}
		if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "keys=someRuntimeKey\n") {
			t.Errorf("%s logged %d warnings, want 1 naming the key:\n%s", command, n, logs.String())
		}
		if strings.Contains(logs.String(), "runtimeConfig") || strings.Contains(logs.String(), "args") {
			t.Errorf("%s warned about keys the spec reserves for the runtime:\n%s", command, logs.String())
		}
	}
	bad := strings.Replace(conf, `"someRuntimeKey":1`, `"logLevel":"loud"`, 1)
	err := handler(testPlugin(), "ADD")(&skel.CmdArgs{ContainerID: "abc", Netns: noNetns, IfName: "eth0", StdinData: []byte(bad)})
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.ErrInvalidNetworkConfig || !strings.Contains(e.Msg, `field "logLevel"`) {
		t.Errorf("ADD with a bad logLevel = %#v, want code 7 naming the key", err)
	}
}
