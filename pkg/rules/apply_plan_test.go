package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTransaction checks the one restore document Apply writes for a table
// read from a real capture, against golden files in testdata/apply/
// (rewritten with -update): our jumps deleted by their printed spelling,
// every chain of ours emptied, stale ones deleted, the new set written.
func TestTransaction(t *testing.T) {
	v1x := saveCases()[3].cfg
	tests := []struct {
		name string
		from string // capture in testdata/save/, "" for an empty table
		want *Config
	}{
		{"fresh-to-v0", "", ptr(DefaultConfig(ProfileOSMv0))},
		{"v0-to-v1", "v0-exclusions", ptr(DefaultConfig(ProfileOSMv1))},
		{"v1-to-v1-everything", "v1-default", &v1x},
		{"podip-removed", "v1-podip", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := natTable{rules: map[string][]savedRule{}}
			if tt.from != "" {
				tbl = readCapture(t, savePath(tt.from, BackendNFT, IPv4))
			}
			var want *RuleSet
			if tt.want != nil {
				rs := mustBuild(t, *tt.want, IPv4)
				want = &rs
			}
			got := transaction(tbl, want)
			path := filepath.Join("testdata", "apply", tt.name+".restore")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(golden) {
				t.Errorf("transaction differs from %s (rerun with -update to accept):\n%s", path, got)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
