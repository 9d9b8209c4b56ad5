package install

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/install/atomicfile"
	"github.com/mesh-cni/mesh-cni/internal/journal"
)

// TestOpenJournal: the journal the installer finds is kept only when the
// node's plugin binary is ours, and begins at boot on a tmpfs a reboot
// emptied; in every other case it is cleared and begins once our binary
// is in place, one ADD's bound later.
func TestOpenJournal(t *testing.T) {
	boot, err := bootTime()
	if err != nil {
		t.Fatal(err)
	}
	earlier := time.Now().Add(-time.Hour).Truncate(time.Second)
	tests := []struct {
		name string
		// binary is the node's plugin binary: "ours", "other" or "".
		binary string
		// begun: the journal has a start already; tmpfs: the run dir is one.
		begun, tmpfs bool
		// want: "kept" (earlier), "boot", or "later" (cleared, begins once
		// the binary is ours).
		want string
	}{
		{"agent restarted", "ours", true, false, "kept"},
		{"rebooted, run dir on a tmpfs", "ours", false, true, "boot"},
		{"journal gone, run dir on a disk", "ours", false, false, "later"},
		{"first install", "", false, false, "later"},
		{"after an uninstall", "", true, true, "later"},
		{"another version's binary", "other", true, false, "later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := journalInstaller(t, tt.binary, tt.tmpfs)
			j := journal.Journal{RunDir: in.cfg.RunDir}
			if tt.begun {
				if err := j.Begin(earlier); err != nil {
					t.Fatal(err)
				}
				if err := j.Record("uid-1", "s", []netip.Addr{netip.MustParseAddr("10.0.0.5")}); err != nil {
					t.Fatal(err)
				}
			}
			if err := in.openJournal(); err != nil {
				t.Fatal(err)
			}
			since, err := j.Since()
			switch tt.want {
			case "kept":
				if err != nil || !since.Equal(earlier) {
					t.Errorf("since %v, %v; want %v kept", since, err, earlier)
				}
				return
			case "boot":
				if err != nil || !since.Equal(boot) {
					t.Errorf("since %v, %v; want the boot, %v", since, err, boot)
				}
				return
			}
			if err == nil {
				t.Errorf("since %v before our binary is in place; want none", since)
			}
			if has, _ := j.Has("uid-1", []netip.Addr{netip.MustParseAddr("10.0.0.5")}); has {
				t.Error("records of a journal that cannot be trusted were kept")
			}
			start := time.Now()
			if err := in.syncBinaries(); err != nil {
				t.Fatal(err)
			}
			since, err = j.Since()
			if low := start.Add(in.apiTimeout + journalSlack); err != nil || since.Before(low) || since.After(time.Now().Add(in.apiTimeout+journalSlack)) {
				t.Errorf("since %v, %v once our binary is in place; want about %v", since, err, low)
			}
		})
	}
}

// journalInstaller is an Installer of one bin dir holding binary ("ours",
// "other" or none), with its run dir on a tmpfs when asked.
func journalInstaller(t *testing.T, binary string, tmpfs bool) *Installer {
	t.Helper()
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	if tmpfs {
		shm, err := os.MkdirTemp("/dev/shm", "mesh-cni-journal-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(shm) })
		runDir = shm
	}
	if onTmpfs(runDir) != tmpfs {
		t.Fatalf("%s on a tmpfs: %v, want %v (the test needs /dev/shm to be one, and the temp dir not)", runDir, !tmpfs, tmpfs)
	}
	src, bin := filepath.Join(dir, "mesh-cni-src"), filepath.Join(dir, "bin")
	if err := os.WriteFile(src, []byte("ours"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(runDir, 0o700)
	if binary != "" {
		os.WriteFile(filepath.Join(bin, "mesh-cni"), []byte(binary), 0o755)
	}
	digest, err := atomicfile.Digest(src)
	if err != nil {
		t.Fatal(err)
	}
	in := &Installer{log: slog.New(slog.NewTextHandler(io.Discard, nil)), sourceDigest: digest, apiTimeout: 10 * time.Second,
		binaries: map[string]os.FileInfo{}}
	in.cfg.RunDir, in.cfg.BinDirs, in.cfg.PluginSource = runDir, []string{bin}, src
	return in
}
