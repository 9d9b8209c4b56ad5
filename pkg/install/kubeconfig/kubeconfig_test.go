package kubeconfig

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/pkg/kube"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestRender(t *testing.T) {
	tests := []struct {
		name, host, port, golden string
	}{
		{"ipv4", "10.96.0.1", "443", "ipv4.golden"},
		{"ipv6", "fd00:10:96::1", "6443", "ipv6.golden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Source{ServiceAccountDir: "testdata/sa", Host: tc.host, Port: tc.port}.Render()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	empty := t.TempDir()
	badToken := t.TempDir()
	os.WriteFile(filepath.Join(badToken, "token"), []byte("  \n"), 0o600)
	os.WriteFile(filepath.Join(badToken, "ca.crt"), []byte("x"), 0o600)
	badCA := t.TempDir()
	os.WriteFile(filepath.Join(badCA, "token"), []byte("abc"), 0o600)
	os.WriteFile(filepath.Join(badCA, "ca.crt"), []byte("not pem"), 0o600)
	tests := []struct {
		name    string
		src     Source
		wantErr string
	}{
		{"no host", Source{ServiceAccountDir: "testdata/sa", Port: "443"}, "KUBERNETES_SERVICE_HOST"},
		{"bad port", Source{ServiceAccountDir: "testdata/sa", Host: "h", Port: "https"}, `"https" is not a port`},
		{"no token", Source{ServiceAccountDir: empty, Host: "h", Port: "443"}, filepath.Join(empty, "token")},
		{"blank token", Source{ServiceAccountDir: badToken, Host: "h", Port: "443"}, "does not hold a bearer token"},
		{"bad ca", Source{ServiceAccountDir: badCA, Host: "h", Port: "443"}, "does not hold a PEM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.src.Render()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestThePluginsClientReadsIt loads the written file with the client the
// plugin uses, so a format drift between writer and reader fails here.
func TestThePluginsClientReadsIt(t *testing.T) {
	data, err := Source{ServiceAccountDir: "testdata/sa", Host: "fd00::1", Port: "443"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, Mode); err != nil {
		t.Fatal(err)
	}
	cfg, err := kube.LoadKubeconfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != "https://[fd00::1]:443" || !strings.HasPrefix(cfg.Token, "eyJ") {
		t.Errorf("plugin client read server %q token %q", cfg.Server, cfg.Token)
	}
}
