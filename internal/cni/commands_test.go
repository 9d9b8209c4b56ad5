package cni

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
)

// runCommand runs one of the plugin's commands with a config from
// testdata (or literal JSON) and the given fakes.
func runCommand(t *testing.T, command string, conf []byte, args string, api *fakeAPI, netns *fakeNetns) error {
	t.Helper()
	var logs bytes.Buffer
	logOutput = &logs
	t.Cleanup(func() { logOutput = os.Stderr })
	p := &Plugin{newAPI: func(context.Context, *NetConf) (kubeAPI, error) { return api, nil }, netns: netns, journal: &fakeJournal{}}
	err := handler(p, command)(&skel.CmdArgs{ContainerID: "abc", Netns: "/var/run/netns/gone", IfName: "eth0", Args: args, StdinData: conf})
	t.Logf("logs:\n%s", logs.String())
	return err
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		api     *fakeAPI
		netns   *fakeNetns
		wantErr string
	}{
		{"rules match", webArgs, &fakeAPI{pod: pod()}, &fakeNetns{}, ""},
		{"rules differ", webArgs, &fakeAPI{pod: pod()}, &fakeNetns{applyErr: errors.New("missing: -A PROXY_OUTPUT -m owner --uid-owner 1500 -j RETURN")}, "uid-owner 1500"},
		{"out of scope pod", webArgs, &fakeAPI{pod: pod(func(p *object.Pod) { p.Spec.HostNetwork = true })}, &fakeNetns{applyErr: errors.New("not called")}, ""},
		{"excluded namespace", "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x", nil, &fakeNetns{applyErr: errors.New("not called")}, ""},
		{"bad annotation", webArgs, &fakeAPI{pod: pod(func(p *object.Pod) {
			p.Metadata.Annotations = map[string]string{meshsettings.AnnotationInboundPortExclusions: "x"}
		})}, &fakeNetns{}, `invalid port "x" in annotation`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runCommand(t, "CHECK", testdata(t, "netconf-minimal-0.3.1.json"), tt.args, tt.api, tt.netns)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CHECK = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDelNeverFails(t *testing.T) {
	for _, conf := range []string{
		`{"cniVersion":"1.0.0","name":"n","type":"mesh-cni"}`,
		`{"cniVersion":"1.0.0","name":"n","type":"mesh-cni","profile":"istio"}`,
		string(testdata(t, "netconf-bridge-1.0.0.json")),
	} {
		if err := runCommand(t, "DEL", []byte(conf), webArgs, &fakeAPI{podErr: errors.New("gone")}, &fakeNetns{}); err != nil {
			t.Errorf("DEL with %s: %v", conf, err)
		}
	}
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "agent.sock")
	ln, err := server.Listen(good)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.New(nil, nil, slog.New(slog.DiscardHandler)).Serve(ctx, ln) }()
	t.Cleanup(func() { stop(); <-served })
	// A listener nobody accepts on: connects succeed, nothing answers.
	silent := filepath.Join(dir, "silent.sock")
	quiet, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { quiet.Close() })
	notSocket := filepath.Join(dir, "agent.txt")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, socket string
		iptables     bool
		wantErr      string
		wantCode     uint
	}{
		{"ready", good, true, "", 0},
		// Not answering is ADD's to report, pod by pod (code 11): a failed
		// STATUS would stop every pod's sandbox on the node.
		{"agent not answering", silent, true, "", 0},
		{"no agent", filepath.Join(dir, "missing.sock"), true, "missing.sock is missing", types.ErrPluginNotAvailable},
		{"not a socket", notSocket, true, "agent.txt is not a socket", types.ErrPluginNotAvailable},
		// The check's own words, which name the programs and directories.
		{"no iptables", good, false, "mesh-cni: iptables is not installed for IPv4 and IPv6 (looked in /nowhere)", types.ErrPluginNotAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := iptablesMissing
			iptablesMissing = func() error {
				if tt.iptables {
					return nil
				}
				return errors.New("iptables is not installed for IPv4 and IPv6 (looked in /nowhere): nft: iptables-nft-save not found (nor iptables-save)")
			}
			defer func() { iptablesMissing = saved }()
			conf := `{"cniVersion":"1.1.0","name":"n","type":"mesh-cni","agentSocket":"` + tt.socket + `"}`
			p := New()
			err := handler(p, "STATUS")(&skel.CmdArgs{StdinData: []byte(conf)})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("STATUS = %v", err)
				}
				return
			}
			var cniErr *types.Error
			if !errors.As(err, &cniErr) || cniErr.Code != tt.wantCode || !strings.Contains(cniErr.Msg, tt.wantErr) {
				t.Fatalf("STATUS = %#v, want code %d with %q", err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestGC(t *testing.T) {
	conf := `{"cniVersion":"1.1.0","name":"n","type":"mesh-cni","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],"cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}`
	if err := runCommand(t, "GC", []byte(conf), "", nil, nil); err != nil {
		t.Fatalf("GC = %v", err)
	}
}
