package cniconf

import (
	"encoding/json"
	"strings"
	"testing"
)

const ours = `{"type":"mesh-cni","agentSocket":"/var/run/mesh-cni/agent.sock"}`

func TestParseRejectsWhatLoadersReject(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
		kind                Kind
	}{
		{"truncated", `{"name":"x","plugins":[{"type":"a"}`, "not valid JSON", List},
		{"array root", `[{"type":"a"}]`, "not a JSON object", List},
		{"list without name", `{"plugins":[{"type":"a"}]}`, `no "name"`, List},
		{"list without plugins", `{"name":"x","type":"bridge"}`, `no "plugins"`, List},
		{"empty plugins", `{"name":"x","plugins":[]}`, "empty", List},
		{"plugin without type", `{"name":"x","plugins":[{"a":1}]}`, `missing 'type'`, List},
		{"plugin not object", `{"name":"x","plugins":["a"]}`, "not an object", List},
		{"single without type", `{"name":"x","cniVersion":"0.3.1"}`, `missing 'type'`, Single},
		// What only the runtime's own loader (libcni) refuses.
		{"plugin key of the wrong type", `{"name":"x","plugins":[{"type":"a","ipam":5}]}`, "libcni", List},
		{"list flag of the wrong type", `{"name":"x","disableCheck":"maybe","plugins":[{"type":"a"}]}`, "libcni", List},
		{"single key of the wrong type", `{"type":"bridge","capabilities":["portMappings"]}`, "libcni", Single},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), tc.kind)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWithEntryAndWithout(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"compact",
			`{"name":"n","plugins":[{"type":"bridge"}]}`,
			`{"name":"n","plugins":[{"type":"bridge"},{"type":"mesh-cni","agentSocket":"/var/run/mesh-cni/agent.sock"}]}`},
		{"spaced one line",
			`{"name":"n","plugins":[ {"type":"a"}, {"type":"b"} ]}`,
			`{"name":"n","plugins":[ {"type":"a"}, {"type":"b"}, {"type":"mesh-cni","agentSocket":"/var/run/mesh-cni/agent.sock"} ]}`},
		{"indented",
			"{\n  \"name\": \"n\",\n  \"plugins\": [\n    {\"type\": \"a\"}\n  ]\n}\n",
			"{\n  \"name\": \"n\",\n  \"plugins\": [\n    {\"type\": \"a\"},\n    {\n      \"type\": \"mesh-cni\",\n      \"agentSocket\": \"/var/run/mesh-cni/agent.sock\"\n    }\n  ]\n}\n"},
		{"tabs",
			"{\n\t\"name\": \"n\",\n\t\"plugins\": [\n\t\t{\"type\": \"a\"}\n\t]\n}",
			"{\n\t\"name\": \"n\",\n\t\"plugins\": [\n\t\t{\"type\": \"a\"},\n\t\t{\n\t\t\t\"type\": \"mesh-cni\",\n\t\t\t\"agentSocket\": \"/var/run/mesh-cni/agent.sock\"\n\t\t}\n\t]\n}"},
		{"stale entries of ours replaced, not duplicated",
			`{"name":"n","plugins":[{"type":"mesh-cni","old":1},{"type":"a"},{"type":"mesh-cni","old":2},{"type":"b"}]}`,
			`{"name":"n","plugins":[{"type":"a"},{"type":"b"},{"type":"mesh-cni","agentSocket":"/var/run/mesh-cni/agent.sock"}]}`},
		{"escaped strings and brackets in values",
			`{"name":"n]\"","plugins":[{"type":"a","x":"}],\"{"}]}`,
			`{"name":"n]\"","plugins":[{"type":"a","x":"}],\"{"},{"type":"mesh-cni","agentSocket":"/var/run/mesh-cni/agent.sock"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.in, List)
			got, err := d.WithEntry("mesh-cni", []byte(ours))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("WithEntry:\n got %q\nwant %q", got, tc.want)
			}
			again, err := mustParse(t, string(got), List).WithEntry("mesh-cni", []byte(ours))
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(got) {
				t.Errorf("second WithEntry changed the file:\n%q", again)
			}
			back, n, err := mustParse(t, string(got), List).Without("mesh-cni")
			if err != nil || n != 1 {
				t.Fatalf("Without = %d, %v; want 1, nil", n, err)
			}
			if strings.Count(tc.in, "mesh-cni") == 0 && string(back) != tc.in {
				t.Errorf("Without is not the inverse:\n got %q\nwant %q", back, tc.in)
			}
		})
	}
}

func TestWithoutRefusesToEmptyTheList(t *testing.T) {
	_, _, err := mustParse(t, `{"name":"n","plugins":[{"type":"mesh-cni"}]}`, List).Without("mesh-cni")
	if err == nil {
		t.Error("Without emptied a list")
	}
}

func TestToListKeepsThePluginByteForByte(t *testing.T) {
	in := "{\n    \"cniVersion\": \"0.3.1\",\n    \"name\": \"mynet\",\n    \"type\": \"bridge\"\n}\n"
	got, err := mustParse(t, in, Single).ToList("fallback", []byte(ours))
	if err != nil {
		t.Fatal(err)
	}
	d := mustParse(t, string(got), List)
	if d.Name() != "mynet" || strings.Join(d.Types(), ",") != "bridge,mesh-cni" {
		t.Errorf("converted list: name %q types %v", d.Name(), d.Types())
	}
	first := got[d.elems[0].start:d.elems[0].end]
	if string(first) != strings.TrimSpace(in) {
		t.Errorf("first plugin changed:\n%s", first)
	}
	var top struct{ CNIVersion string }
	if err := json.Unmarshal(got, &top); err != nil || top.CNIVersion != "0.3.1" {
		t.Errorf("cniVersion not lifted: %q, %v", top.CNIVersion, err)
	}
	unnamed, err := mustParse(t, `{"type":"bridge"}`, Single).ToList("99-bridge", []byte(ours))
	if err != nil {
		t.Fatal(err)
	}
	if n := mustParse(t, string(unnamed), List).Name(); n != "99-bridge" {
		t.Errorf("fallback name = %q", n)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		loaded bool
	}{
		{"10-a.conflist", List, true}, {"10-a.conf", Single, true}, {"10-a.json", Single, true},
		{"10-a.conf.bak", Single, false}, {"README", Single, false},
	}
	for _, tc := range tests {
		k, ok := KindOf(tc.name)
		if k != tc.kind || ok != tc.loaded {
			t.Errorf("KindOf(%q) = %v, %v; want %v, %v", tc.name, k, ok, tc.kind, tc.loaded)
		}
	}
}

func mustParse(t *testing.T, s string, k Kind) *Doc {
	t.Helper()
	d, err := Parse([]byte(s), k)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return d
}

// TestTypesAsTheRuntimeReadsThem: a plugin's type and a single plugin's
// network name and version are what libcni reads, in any case of letters,
// so a stale entry of ours spelt "Type" is cut out, not kept beside the
// new one, and a converted .conf keeps the network name the runtime used.
func TestTypesAsTheRuntimeReadsThem(t *testing.T) {
	d := mustParse(t, `{"name":"n","plugins":[{"Type":"mesh-cni","old":1},{"TYPE":"bridge"}]}`, List)
	if got := strings.Join(d.Types(), ","); got != "mesh-cni,bridge" {
		t.Fatalf("types %s, want mesh-cni,bridge", got)
	}
	out, err := d.WithEntry("mesh-cni", []byte(ours))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"n","plugins":[{"TYPE":"bridge"},{"type":"mesh-cni","agentSocket":"/var/run/mesh-cni/agent.sock"}]}`; string(out) != want {
		t.Errorf("WithEntry:\n got %s\nwant %s", out, want)
	}
	list, err := mustParse(t, `{"NAME":"mynet","CNIVersion":"0.4.0","Type":"bridge"}`, Single).ToList("10-a", []byte(ours))
	if err != nil {
		t.Fatal(err)
	}
	if d := mustParse(t, string(list), List); d.Name() != "mynet" || !strings.Contains(string(list), `"cniVersion": "0.4.0"`) {
		t.Errorf("converted list named %q:\n%s", d.Name(), list)
	}
}
