package chart

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from what the chart renders")

// fullValues sets every value to something other than its default.
const fullValues = "testdata/full-values.yaml"

// TestLint: `helm lint --strict` with the defaults and with every value set.
func TestLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", fullValues}} {
		out, err := helm(t, append([]string{"lint", "--strict", "."}, args...)...)
		if err != nil {
			t.Errorf("helm lint %v: %v\n%s", args, err, out)
			continue
		}
		if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("helm lint %v:\n%s", args, out)
		}
	}
}

// TestGolden compares what the chart renders with testdata's golden files
// (go test -run TestGolden -update rewrites them): the defaults in the
// README's namespace, and every value set in another namespace.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		golden, namespace string
		args              []string
	}{
		{"default.golden.yaml", ns, nil},
		{"full.golden.yaml", "cni-system", []string{"-f", fullValues}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got := template(t, tc.namespace, tc.args...)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("the chart renders differently from %s (go test -run TestGolden -update rewrites it):\n%s", path, firstDiff(string(want), got))
			}
		})
	}
}

// firstDiff shows the first differing line with a little context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		if i >= len(w) || i >= len(g) || w[i] != g[i] {
			lo := max(0, i-3)
			return "want:\n" + strings.Join(w[lo:min(len(w), i+3)], "\n") + "\ngot:\n" + strings.Join(g[lo:min(len(g), i+3)], "\n")
		}
	}
	return ""
}
