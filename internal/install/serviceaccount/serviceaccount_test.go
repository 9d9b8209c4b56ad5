package serviceaccount

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

func TestConfig(t *testing.T) {
	tests := []struct{ name, host, port, want string }{
		{"ipv4", "10.96.0.1", "443", "https://10.96.0.1:443"},
		{"ipv6", "fd00:10:96::1", "6443", "https://[fd00:10:96::1]:6443"},
		{"bracketed ipv6", "[fd00::1]", "443", "https://[fd00::1]:443"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Source{Dir: "testdata/sa", Host: tc.host, Port: tc.port}.Config()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server != tc.want || !strings.HasPrefix(cfg.Token, "eyJ") || strings.ContainsAny(cfg.Token, " \n") {
				t.Errorf("server %q token %q, want server %q and the trimmed token", cfg.Server, cfg.Token, tc.want)
			}
			data, _ := os.ReadFile("testdata/sa/ca.crt")
			block, _ := pem.Decode(data)
			ca, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			want := x509.NewCertPool()
			want.AddCert(ca)
			if cfg.TLS == nil || !cfg.TLS.RootCAs.Equal(want) || cfg.TLS.InsecureSkipVerify {
				t.Error("the TLS config does not trust exactly ca.crt")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	empty := t.TempDir()
	write := func(token, ca string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "token"), []byte(token), 0o600)
		os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(ca), 0o600)
		return dir
	}
	blankToken, spacedToken, badCA := write("  \n", "x"), write("abc def", "x"), write("abc", "not pem")
	tests := []struct {
		name    string
		src     Source
		wantErr string
	}{
		{"no host", Source{Dir: "testdata/sa", Port: "443"}, "KUBERNETES_SERVICE_HOST"},
		{"bad port", Source{Dir: "testdata/sa", Host: "h", Port: "https"}, `"https" is not a port`},
		{"no token", Source{Dir: empty, Host: "h", Port: "443"}, "reading " + filepath.Join(empty, "token")},
		{"blank token", Source{Dir: blankToken, Host: "h", Port: "443"}, "does not hold a bearer token"},
		{"token with a space", Source{Dir: spacedToken, Host: "h", Port: "443"}, "does not hold a bearer token"},
		{"bad ca", Source{Dir: badCA, Host: "h", Port: "443"}, "does not hold a PEM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.src.Config()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestTheAgentsClientUsesIt makes a request with the client the agent
// builds from the config: the server is verified with ca.crt and sees the
// token.
func TestTheAgentsClientUsesIt(t *testing.T) {
	var gotAuth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Write([]byte(`{"metadata":{"name":"p","namespace":"ns","uid":"u1"}}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("the-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	cfg, err := Source{Dir: dir, Host: host, Port: port}.Config()
	if err != nil {
		t.Fatal(err)
	}
	pod, err := kube.NewClient(cfg).GetPod(context.Background(), "ns", "p")
	if err != nil {
		t.Fatal(err)
	}
	if pod.Metadata.UID != "u1" || gotAuth != "Bearer the-token" {
		t.Errorf("pod %+v, Authorization %q", pod.Metadata, gotAuth)
	}
}
