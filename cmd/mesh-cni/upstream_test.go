package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/shared"
)

// upstreamCases is ../shared/reference/osm-upstream-cases.json: the
// command strings of OSM's and osm-edge's own unit tests, and of OSM's own
// generator run on more configurations, each with the render arguments it
// maps to. An oracle no one on this project wrote.
type upstreamCases struct {
	Cases []struct {
		ID         string `json:"id"`
		Generation string `json:"generation"`
		Checks     []struct {
			Args   []string `json:"args"`
			Expect string   `json:"expect"` // stdout, split or reject
			Stdout string   `json:"stdout"`
			Value  string   `json:"value"`
		} `json:"checks"`
	} `json:"cases"`
	Unexpressible []struct {
		ID        string `json:"id"`
		OSMOutput string `json:"osm_output"`
	} `json:"unexpressible"`
}

func loadUpstreamCases(t *testing.T) upstreamCases {
	path := filepath.Join(shared.Dir(t), "reference", "osm-upstream-cases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the upstream oracle is missing (set MESH_CNI_SHARED to the shared/ folder): %v", err)
	}
	var uc upstreamCases
	if err := json.Unmarshal(data, &uc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(uc.Cases) < 60 {
		t.Fatalf("%s: %d cases, want the 68 it holds", path, len(uc.Cases))
	}
	return uc
}

// TestUpstreamCases renders every case of OSM's oracle and compares it with
// what OSM printed: byte for byte, or, where mesh-cni splits a port list
// longer than multiport takes, once the split rules are joined back.
// The oracle maps OSM v1.0.x's cases to --profile osm-v1, whose rules are
// v1.1's: mesh-cni has osm-v1.0 for them, and the test asks for it.
func TestUpstreamCases(t *testing.T) {
	uc := loadUpstreamCases(t)
	for _, c := range uc.Cases {
		for i, chk := range c.Checks {
			args := slices.Clone(chk.Args)
			if strings.HasPrefix(c.Generation, "OSM v1.0.") {
				args[slices.Index(args, "osm-v1")] = "osm-v1.0"
			}
			t.Run(c.ID+"/"+string(rune('a'+i)), func(t *testing.T) {
				var out, errOut bytes.Buffer
				code := runCLI(append([]string{"render"}, args...), &out, &errOut)
				switch chk.Expect {
				case "stdout":
					if code != 0 || out.String() != chk.Stdout {
						t.Errorf("render %q: exit %d, stderr %q\n got:\n%s\nOSM:\n%s", args, code, errOut.String(), out.String(), chk.Stdout)
					}
				case "split":
					if code != 0 {
						t.Fatalf("render %q: exit %d: %s", args, code, errOut.String())
					}
					assertSplitOf(t, out.String(), chk.Stdout)
				case "reject":
					if code != 2 || !strings.Contains(errOut.String(), chk.Value) {
						t.Errorf("render %q: exit %d, stderr %q; want exit 2 naming %s", args, code, errOut.String(), chk.Value)
					}
				default:
					t.Fatalf("unknown expectation %q", chk.Expect)
				}
			})
		}
	}
	// What the oracle found mesh-cni could not express: osm-edge's local
	// DNS proxy rule, which --local-dns-proxy now renders.
	for _, u := range uc.Unexpressible {
		t.Run(u.ID, func(t *testing.T) {
			if u.ID != "osm-edge-local-dns-proxy" {
				t.Fatalf("a new unexpressible case %s: map it to render's flags", u.ID)
			}
			var out, errOut bytes.Buffer
			if code := runCLI([]string{"render", "--profile", "osm-v1", "--local-dns-proxy"}, &out, &errOut); code != 0 || out.String() != u.OSMOutput {
				t.Errorf("exit %d, stderr %q\n got:\n%s\nosm-edge:\n%s", code, errOut.String(), out.String(), u.OSMOutput)
			}
		})
	}
}

// multiportRule is one rendered rule with a multiport list.
var multiportRule = regexp.MustCompile(`^(.* --dports )([0-9,]+)( -j .*)$`)

// assertSplitOf checks that got is want with each multiport rule of more
// than 15 ports written as consecutive rules of at most 15.
func assertSplitOf(t *testing.T, got, want string) {
	t.Helper()
	joined, pieces := joinSplitRules(got)
	if joined != want {
		t.Errorf("joined back:\n%s\nOSM:\n%s", joined, want)
	}
	if pieces == 0 {
		t.Errorf("no rule was split:\n%s", got)
	}
}

// joinSplitRules joins consecutive multiport rules that differ only in
// their ports, failing none of more than 15, and counts the joins.
func joinSplitRules(doc string) (string, int) {
	sep := " && "
	if strings.Contains(doc, "<<EOF\n") {
		sep = "\n"
	}
	end := "\n"
	doc = strings.TrimSuffix(doc, end)
	var out []string
	joins := 0
	for _, unit := range strings.Split(doc, sep) {
		m := multiportRule.FindStringSubmatch(unit)
		if m != nil && strings.Count(m[2], ",") >= 15 {
			return "a rule of more than 15 ports: " + unit, 0
		}
		if n := len(out); m != nil && n > 0 {
			if prev := multiportRule.FindStringSubmatch(out[n-1]); prev != nil && prev[1] == m[1] && prev[3] == m[3] {
				out[n-1] = m[1] + prev[2] + "," + m[2] + m[3]
				joins++
				continue
			}
		}
		out = append(out, unit)
	}
	return strings.Join(out, sep) + end, joins
}
