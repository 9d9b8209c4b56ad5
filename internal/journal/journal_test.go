package journal

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestRecordAndHas(t *testing.T) {
	j := Journal{RunDir: t.TempDir()}
	if err := j.Record("uid-1", "sandbox-a", addrs("10.0.0.5", "fd00::5")); err != nil {
		t.Fatal(err)
	}
	if err := j.Record("uid-1", "sandbox-b", addrs("10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uid  string
		ips  []netip.Addr
		want bool
	}{
		{"uid-1", addrs("10.0.0.5"), true},
		{"uid-1", addrs("fd00::5"), true},
		{"uid-1", addrs("10.0.0.9"), true},
		// A sandbox made again without mesh-cni: another address.
		{"uid-1", addrs("10.0.0.6"), false},
		{"uid-2", addrs("10.0.0.5"), false},
		{"../uid-1", addrs("10.0.0.5"), false},
		{"uid-1", nil, false},
	}
	for _, tt := range tests {
		got, err := j.Has(tt.uid, tt.ips)
		if err != nil || got != tt.want {
			t.Errorf("Has(%s, %v) = %v, %v; want %v", tt.uid, tt.ips, got, err, tt.want)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(j.RunDir, DirName, "uid-1"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}

func TestRecordRefusesOddNames(t *testing.T) {
	j := Journal{RunDir: t.TempDir()}
	for _, tt := range []struct{ uid, container string }{
		{"", "abc"}, {"uid", ""}, {"since", "abc"}, {"../x", "abc"}, {"uid", "a/b"}, {".hidden", "abc"}, {"uid", ".tmp"},
	} {
		if err := j.Record(tt.uid, tt.container, addrs("10.0.0.5")); err == nil || !strings.Contains(err.Error(), "cannot name a file") {
			t.Errorf("Record(%q, %q) = %v, want refused", tt.uid, tt.container, err)
		}
	}
}

func TestSince(t *testing.T) {
	j := Journal{RunDir: t.TempDir()}
	if _, err := j.Since(); !errors.Is(err, ErrNoSince) {
		t.Fatalf("Since of a new journal: %v, want ErrNoSince", err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	if err := j.Begin(at); err != nil {
		t.Fatal(err)
	}
	if got, err := j.Since(); err != nil || !got.Equal(at) {
		t.Errorf("Since = %v, %v; want %v", got, err, at)
	}
	// Since is no pod: a record of the pods does not see it.
	if has, err := j.Has(sinceName, addrs("10.0.0.5")); err != nil || has {
		t.Errorf("Has(since) = %v, %v", has, err)
	}
	os.WriteFile(filepath.Join(j.RunDir, DirName, sinceName), []byte("yesterday\n"), 0o600)
	if _, err := j.Since(); err == nil || errors.Is(err, ErrNoSince) {
		t.Errorf("Since of a garbled file: %v, want an error naming it", err)
	}
}

func TestForgetPruneRemove(t *testing.T) {
	j := Journal{RunDir: t.TempDir()}
	for _, uid := range []string{"live", "gone-old", "gone-new"} {
		if err := j.Record(uid, "s", addrs("10.0.0.5")); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Begin(time.Now()); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(j.RunDir, DirName, "gone-old"), old, old)
	if err := j.Prune(func(uid string) bool { return uid == "live" }, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[string]bool{"live": true, "gone-old": false, "gone-new": true} {
		if has, _ := j.Has(uid, addrs("10.0.0.5")); has != want {
			t.Errorf("after Prune, %s recorded: %v, want %v", uid, has, want)
		}
	}
	if _, err := j.Since(); err != nil {
		t.Errorf("Prune removed the journal's start: %v", err)
	}
	if err := j.Forget("live"); err != nil {
		t.Fatal(err)
	}
	if has, _ := j.Has("live", addrs("10.0.0.5")); has {
		t.Error("Forget left the pod's records")
	}
	if err := j.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(j.RunDir, DirName)); !os.IsNotExist(err) {
		t.Errorf("Remove left the journal: %v", err)
	}
}
