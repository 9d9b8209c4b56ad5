package install

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/agent/server"
	"github.com/mesh-cni/mesh-cni/internal/install/status"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// noAPI answers every read with not found and drops events: the runner's
// tests need an agent that answers, not what it answers.
type noAPI struct{}

func (noAPI) GetPod(context.Context, string, string, string) (*object.Pod, error) {
	return nil, object.ErrNotFound
}
func (noAPI) GetMeshConfig(context.Context, string, string) (*object.MeshConfig, error) {
	return nil, object.ErrNotFound
}
func (noAPI) GetConfigMap(context.Context, string, string) (*object.ConfigMap, error) {
	return nil, object.ErrNotFound
}
func (noAPI) CreateEvent(context.Context, object.Event) error { return nil }

// TestAgentRunner: the socket is served and root-only, put back when
// something replaces it, and gone when the agent stops.
func TestAgentRunner(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	st := status.New()
	a := &agentRunner{path: filepath.Join(t.TempDir(), "run", AgentSocketName), srv: server.New(noAPI{}, noAPI{}, log),
		log: log, status: st, life: context.Background()}
	defer a.stop()
	if err := a.check(); err == nil {
		t.Fatal("check passes before the agent serves")
	}
	if err := a.ensure(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(a.path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v: want a socket with mode 0600", fi, err)
	}
	if err := a.check(); err != nil {
		t.Fatal(err)
	}

	// A file where the socket was: the plugin would dial it in vain.
	if err := os.Remove(a.path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.ensure(); err != nil {
		t.Fatal(err)
	}
	if err := a.check(); err != nil {
		t.Errorf("after the replaced socket: %v", err)
	}
	if !strings.Contains(logs.String(), "the node agent's socket was removed or replaced; listening again") {
		t.Errorf("the repair is not logged:\n%s", logs.String())
	}

	a.stop()
	if _, err := os.Lstat(a.path); !os.IsNotExist(err) {
		t.Errorf("the socket is left after stop: %v", err)
	}
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "the node agent does not answer on "+a.path) {
		t.Errorf("check after stop: %v", err)
	}
}
