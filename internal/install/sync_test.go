package install

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/install/chain"
)

// TestEntryRemoved: an event leaving the primary config complete without
// our entry syncs at once; every other event waits for the burst to
// settle.
func TestEntryRemoved(t *testing.T) {
	installed, err := os.ReadFile("chain/testdata/bridge-conflist/installed/10-bridge.conflist")
	if err != nil {
		t.Fatal(err)
	}
	uninstalled, err := os.ReadFile("chain/testdata/bridge-conflist/netd/10-bridge.conflist")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, content, event string
		want                 bool
	}{
		{"rewritten without our entry", string(uninstalled), "10-bridge.conflist", true},
		{"our entry still there", string(installed), "10-bridge.conflist", false},
		// Half written: the settled sync reads it whole.
		{"being written", string(uninstalled[:len(uninstalled)/2]), "10-bridge.conflist", false},
		{"an event elsewhere", string(uninstalled), "../run/agent.sock", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			netd := filepath.Join(dir, "net.d")
			os.MkdirAll(netd, 0o755)
			primary := filepath.Join(netd, "10-bridge.conflist")
			if err := os.WriteFile(primary, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			in := &Installer{log: log, chain: &chain.Chain{Dir: netd, Log: log}, primary: primary}
			in.cfg.ConfDir = netd
			if got := in.entryRemoved(filepath.Join(netd, tt.event)); got != tt.want {
				t.Errorf("entryRemoved = %v, want %v", got, tt.want)
			}
		})
	}
}
