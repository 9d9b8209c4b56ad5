package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func seed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../internal/rules/testdata/reference/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(strings.TrimRight(string(b), "\n"), "&& &&", "&&", 1) + "\n"
}

func TestRenderCLI(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout func(t *testing.T) string // exact, when set
		stdoutHas  string
		wantStderr string // exact
	}{
		{name: "seed default", args: []string{"render"}, wantStdout: func(t *testing.T) string { return seed(t, "seed-1-default.txt") }},
		{name: "seed IP ranges as the ConfigMap spells them", args: []string{"render", "--outbound-ip-range-exclusion-list", "1.1.1.1/32, 2.2.2.2/24"},
			wantStdout: func(t *testing.T) string { return seed(t, "seed-2-ip-exclusions.txt") }},
		{name: "seed ports", args: []string{"render", "--outbound-port-exclusion-list", "6379, 7070,8080"},
			wantStdout: func(t *testing.T) string { return seed(t, "seed-3-port-exclusions.txt") }},
		{name: "v1 restore", args: []string{"render", "--profile", "osm-v1", "--format", "restore"}, stdoutHas: "-A OSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner 1500 -j RETURN\n"},
		{name: "ipv6", args: []string{"render", "-ipv6", "--format=restore"}, stdoutHas: "-A PROXY_OUTPUT -d ::1/128 -j RETURN\n"},
		{name: "bad port", args: []string{"render", "--outbound-port-exclusion-list", "6379, 70000"}, wantCode: 2,
			wantStderr: "mesh-cni render: --outbound-port-exclusion-list: invalid port \"70000\"\n"},
		{name: "bad CIDR", args: []string{"render", "--outbound-ip-range-exclusion-list", "foobar"}, wantCode: 2,
			wantStderr: "mesh-cni render: --outbound-ip-range-exclusion-list: invalid IP range \"foobar\"\n"},
		{name: "bad profile", args: []string{"render", "--profile", "osm-v2"}, wantCode: 2,
			wantStderr: "mesh-cni render: --profile: unknown profile \"osm-v2\" (want osm-v0, osm-v1.0 or osm-v1)\n"},
		{name: "bad format", args: []string{"render", "--format", "yaml"}, wantCode: 2,
			wantStderr: "mesh-cni render: --format: unknown format \"yaml\" (want osm-init or restore)\n"},
		{name: "inclusions need v1", args: []string{"render", "--outbound-ip-range-inclusion-list", "10.0.0.0/8"}, wantCode: 2,
			wantStderr: "mesh-cni render: profile osm-v0 has no outbound IP range inclusions (got [10.0.0.0/8]); use profile osm-v1\n"},
		{name: "PodIP restore needs the address", args: []string{"render", "--profile", "osm-v1", "--local-proxy-mode", "PodIP", "--format", "restore"}, wantCode: 2,
			wantStderr: "mesh-cni render: rule \"-I OUTPUT -p tcp -o lo -d 127.0.0.1/32 -m owner --uid-owner 1500 -j DNAT --to-destination $POD_IP\" needs the pod's IPv4 address (give --pod-ip)\n"},
		{name: "bad pod IP", args: []string{"render", "--pod-ip", "10.1"}, wantCode: 2, wantStderr: "mesh-cni render: --pod-ip: invalid IP address \"10.1\"\n"},
		{name: "unknown flag", args: []string{"render", "--nope"}, wantCode: 2, wantStderr: "mesh-cni render: flag provided but not defined: -nope\n"},
		{name: "unknown command", args: []string{"explode"}, wantCode: 2, wantStderr: "mesh-cni explode: unknown command (try mesh-cni help)\n"},
		{name: "help", args: []string{"render", "--help"}, stdoutHas: "--outbound-ip-range-inclusion-list L"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runCLI(tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, errOut.String())
			}
			if tt.wantStdout != nil {
				if want := tt.wantStdout(t); out.String() != want {
					t.Errorf("stdout\n got %q\nwant %q", out.String(), want)
				}
			}
			if !strings.Contains(out.String(), tt.stdoutHas) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdoutHas)
			}
			if errOut.String() != tt.wantStderr {
				t.Errorf("stderr\n got %q\nwant %q", errOut.String(), tt.wantStderr)
			}
		})
	}
}
