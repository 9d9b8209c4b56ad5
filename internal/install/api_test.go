package install

import (
	"bytes"
	"context"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/install/serviceaccount"
)

// TestNodeAPIRefresh: a rotated token goes into the agent's next request;
// an unreadable one, or a changed CA, leaves the client as it is and is
// reported once.
func TestNodeAPIRefresh(t *testing.T) {
	var mu sync.Mutex
	var auth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = r.Header.Get("Authorization")
		mu.Unlock()
		w.Write([]byte(`{"metadata":{"name":"p","namespace":"ns"}}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	write("token", []byte("one\n"))
	u, _ := url.Parse(srv.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	var logs bytes.Buffer
	a, err := newNodeAPI(serviceaccount.Source{Dir: dir, Host: host, Port: port}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sent := func() string {
		t.Helper()
		if _, err := a.client.GetPod(context.Background(), "ns", "p"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return auth
	}
	if got := sent(); got != "Bearer one" {
		t.Errorf("first request: %q", got)
	}
	write("token", []byte("two\n"))
	a.refresh()
	if got := sent(); got != "Bearer two" {
		t.Errorf("after the rotation: %q", got)
	}
	write("token", nil)
	a.refresh()
	a.refresh()
	if got := sent(); got != "Bearer two" {
		t.Errorf("after an unreadable token: %q", got)
	}
	write("token", []byte("two\n"))
	other, err := os.ReadFile("serviceaccount/testdata/sa/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	write("ca.crt", other)
	a.refresh()
	a.refresh()
	if got := sent(); got != "Bearer two" {
		t.Errorf("after a CA change: %q", got)
	}
	for _, msg := range []string{"cannot read the service account credentials", "the service account's ca.crt changed", "the service account token changed"} {
		if n := strings.Count(logs.String(), msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, logs.String())
		}
	}
}
