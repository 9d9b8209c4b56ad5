package chain

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bridgeConf = `{"cniVersion":"0.4.0","name":"mynet","type":"bridge"}`

func newChain(t *testing.T, files map[string]string) *Chain {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Chain{Dir: dir, StatePath: filepath.Join(t.TempDir(), "state.json"), Log: quietLog()}
}

func read(t *testing.T, c *Chain, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func exists(c *Chain, name string) bool {
	_, err := os.Stat(filepath.Join(c.Dir, name))
	return err == nil
}

func TestInstallCases(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"empty dir", nil, ErrNoPrimary.Error()},
		{"only invalid and ours", map[string]string{"a.conflist": "{", "b.conflist": `{"name":"x","plugins":[{"type":"mesh-cni"}]}`}, ErrNoPrimary.Error()},
		{"foreign conflist of the same stem", map[string]string{"10-a.conf": bridgeConf, "10-a.conflist": `{"name":"other","plugins":[{"type":"ptp"}]}`}, "not ours"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newChain(t, tc.files).Install(testEntry(t))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Install error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRewrittenConfIsConvertedAgain(t *testing.T) {
	c := newChain(t, map[string]string{"10-a.conf": bridgeConf})
	if _, err := c.Install(testEntry(t)); err != nil {
		t.Fatal(err)
	}
	// The primary CNI writes its .conf again: it sorts first and shadows us.
	if err := os.WriteFile(filepath.Join(c.Dir, "10-a.conf"), []byte(bridgeConf), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.Install(testEntry(t))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Added || exists(c, "10-a.conf") {
		t.Errorf("Install = %+v, 10-a.conf exists: %v; want it converted again", res, exists(c, "10-a.conf"))
	}
	if err := c.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, "10-a.conf"); got != bridgeConf || exists(c, "10-a.conflist") {
		t.Errorf("after uninstall 10-a.conf = %q, conflist exists %v", got, exists(c, "10-a.conflist"))
	}
}

func TestUninstallWithoutStateCutsOnlyOurEntry(t *testing.T) {
	c := newChain(t, map[string]string{"10-a.conf": bridgeConf})
	if _, err := c.Install(testEntry(t)); err != nil {
		t.Fatal(err)
	}
	installed := read(t, c, "10-a.conflist")
	if err := os.Remove(c.StatePath); err != nil { // a reboot cleared the run dir
		t.Fatal(err)
	}
	if err := c.Uninstall(); err != nil {
		t.Fatal(err)
	}
	got := read(t, c, "10-a.conflist")
	if strings.Contains(got, "mesh-cni") || !strings.Contains(got, bridgeConf) || got == installed {
		t.Errorf("after uninstall without state:\n%s", got)
	}
}

func TestUninstallKeepsANewerConf(t *testing.T) {
	c := newChain(t, map[string]string{"10-a.conf": bridgeConf})
	if _, err := c.Install(testEntry(t)); err != nil {
		t.Fatal(err)
	}
	newer := `{"cniVersion":"0.4.0","name":"mynet","type":"bridge","mtu":1400}`
	if err := os.WriteFile(filepath.Join(c.Dir, "10-a.conf"), []byte(newer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, "10-a.conf"); got != newer || exists(c, "10-a.conflist") {
		t.Errorf("10-a.conf = %q (want the newer one), conflist left: %v", got, exists(c, "10-a.conflist"))
	}
}

func TestChangedConvertedListIsEditedNotRestored(t *testing.T) {
	c := newChain(t, map[string]string{"10-a.conf": bridgeConf})
	res, err := c.Install(testEntry(t))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(read(t, c, "10-a.conflist"), `"mynet",`, `"mynet2",`, 1)
	if err := os.WriteFile(res.Path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Uninstall(); err != nil {
		t.Fatal(err)
	}
	got := read(t, c, "10-a.conflist")
	if exists(c, "10-a.conf") || strings.Contains(got, "mesh-cni") || !strings.Contains(got, "mynet2") {
		t.Errorf("someone's later edit was lost or our entry kept:\n%s", got)
	}
}

func TestPrimaryMovesAway(t *testing.T) {
	c := newChain(t, map[string]string{"20-b.conflist": `{"name":"b","plugins":[{"type":"ptp"}]}`})
	if _, err := c.Install(testEntry(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "10-a.conflist"), []byte(`{"name":"a","plugins":[{"type":"calico"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.Install(testEntry(t))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(res.Path) != "10-a.conflist" || !res.Added {
		t.Fatalf("Install = %+v, want the new first file", res)
	}
	if err := c.RemoveFrom(filepath.Join(c.Dir, "20-b.conflist")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, "20-b.conflist"); got != `{"name":"b","plugins":[{"type":"ptp"}]}` {
		t.Errorf("old primary not restored: %s", got)
	}
	if err := c.RemoveFrom(filepath.Join(c.Dir, "missing.conflist")); err != nil {
		t.Errorf("RemoveFrom(missing) = %v", err)
	}
	if _, err := (&Chain{Dir: filepath.Join(c.Dir, "nope"), Log: quietLog()}).FindPrimary(); err == nil || errors.Is(err, ErrNoPrimary) {
		t.Errorf("FindPrimary on a missing dir = %v, want a read error", err)
	}
}
