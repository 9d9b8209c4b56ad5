package install

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/pkg/install/serviceaccount"
)

// TestNodeAPIRefresh: a rotated token gives the agent a client with it; an
// unreadable one keeps the client in use and is reported once.
func TestNodeAPIRefresh(t *testing.T) {
	dir := t.TempDir()
	ca, err := os.ReadFile("serviceaccount/testdata/sa/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.crt", string(ca))
	write("token", "one\n")
	var logs bytes.Buffer
	a, err := newNodeAPI(serviceaccount.Source{Dir: dir, Host: "127.0.0.1", Port: "6443"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	first := a.client.Load()
	a.refresh()
	if a.client.Load() != first {
		t.Error("the client was replaced although nothing changed")
	}
	write("token", "two\n")
	a.refresh()
	second := a.client.Load()
	if second == first || a.token != "two" {
		t.Errorf("after the rotation: token %q, client replaced %v", a.token, second != first)
	}
	write("token", "")
	a.refresh()
	a.refresh()
	if a.client.Load() != second || a.token != "two" {
		t.Error("an unreadable token replaced the client in use")
	}
	if n := strings.Count(logs.String(), "cannot read the service account credentials"); n != 1 {
		t.Errorf("the read failure is logged %d times, want once:\n%s", n, logs.String())
	}
}
