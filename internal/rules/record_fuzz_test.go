package rules

import (
	"errors"
	"strings"
	"testing"
)

// recSeeds are every script the other tests parse or refuse.
func recSeeds(t testing.TB) []string {
	out := readFiles(t, "testdata/golden/*.osm-init", "testdata/record/*/*.osm-init", "testdata/reference/*.txt")
	for _, c := range loadRecCases(t) {
		out = append(out, c.Output)
	}
	return append(out, seedArgs(t)...)
}

// FuzzParseOSMInit checks that no script makes ParseOSMInit panic, that a
// refusal is a one-line *RecordError, and that whatever it accepts
// validates and renders back: byte for byte, or with its multiport lists
// longer than 15 ports split as mesh-cni installs them.
func FuzzParseOSMInit(f *testing.F) {
	for _, s := range recSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		cfg, err := ParseOSMInit(script)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("refusal %T %q: want a one-line *RecordError", err, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted %q as a Config that does not validate: %v", script, err)
		}
		rs, err := Build(cfg, IPv4)
		if err != nil {
			t.Fatalf("accepted %q as a Config Build refuses: %v", script, err)
		}
		if got, want := RenderOSMInit(rs), cutLongPortLists(strings.TrimSuffix(script, "\n")); got != want {
			t.Fatalf("accepted a script its Config does not render back to\n got: %q\nwant: %q", got, want)
		}
	})
}
