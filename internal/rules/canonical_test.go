package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// spelled is how the arguments of a rule line, in a table holding our
// chains, compare with a wanted set's.
func spelled(line string) string {
	return SavedTable{chains: OwnedChains()}.parseRule(line).spelled()
}

func TestCanonicalSpellings(t *testing.T) {
	tests := []struct {
		name       string
		ours, save string // as mesh-cni writes it, as iptables-save prints it
		same       bool
	}{
		{"implicit tcp match", "-p tcp --dport 15010 -j RETURN", "-p tcp -m tcp --dport 15010 -j RETURN", true},
		{"--to-port is --to-ports", "-p tcp -j REDIRECT --to-port 15001", "-p tcp -j REDIRECT --to-ports 15001", true},
		{"--match is -m", "-p tcp --match multiport --dports 6379,7070,8080 -j RETURN", "-p tcp -m multiport --dports 6379,7070,8080 -j RETURN", true},
		{"host bits masked", "-d 10.0.0.10/24 -j RETURN", "-d 10.0.0.0/24 -j RETURN", true},
		{"bare address is /32", "-d 1.1.1.1 -j RETURN", "-d 1.1.1.1/32 -j RETURN", true},
		{"header option order", "-o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j OSM_PROXY_IN_REDIRECT",
			"! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1500 -j OSM_PROXY_IN_REDIRECT", true},
		{"negated owner", "-o lo -m owner ! --uid-owner 1500 -j RETURN", "-o lo -m owner ! --uid-owner 1500 -j RETURN", true},
		{"DNAT header order", "-p tcp -o lo -d 127.0.0.1/32 -m owner --uid-owner 1500 -j DNAT --to-destination 10.244.0.7",
			"-d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner 1500 -j DNAT --to-destination 10.244.0.7", true},
		{"IPv6 masked and compressed", "-d FD00:0:0:0::10/64 -j RETURN", "-d fd00::/64 -j RETURN", true},
		{"IPv6 bare address is /128", "-d ::1 -j RETURN", "-d ::1/128 -j RETURN", true},
		{"long options", "--protocol tcp --destination-port 80 --jump RETURN", "-p tcp -m tcp --dport 80 -j RETURN", true},
		{"uid range of one", "-m owner --uid-owner 1500-1500 -j RETURN", "-m owner --uid-owner 1500 -j RETURN", true},
		{"protocol number", "-p 6 -j RETURN", "-p tcp -j RETURN", true},
		{"negation matters", "-o lo -m owner --uid-owner 1500 -j RETURN", "-o lo -m owner ! --uid-owner 1500 -j RETURN", false},
		{"network matters", "-d 10.0.0.0/24 -j RETURN", "-d 10.0.0.0/16 -j RETURN", false},
		{"port matters", "-p tcp --dport 15010 -j RETURN", "-p tcp -m tcp --dport 15011 -j RETURN", false},
		{"target matters", "-p tcp -j PROXY_OUTPUT", "-p tcp -j OSM_PROXY_OUTBOUND", false},
		{"quoted comment", `-m comment --comment "a b" -j RETURN`, `-m comment --comment "a b" -j RETURN`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := spelled(tt.ours), spelled(tt.save)
			if (a == b) != tt.same {
				t.Errorf("canonical(%q) = %q\ncanonical(%q) = %q\nwant same=%v", tt.ours, a, tt.save, b, tt.same)
			}
		})
	}
}

// TestSaveCapturesMatchRuleSets reads what real iptables-save printed for
// every case, backend and family (testdata/save/, rewritten by
// TestCaptureSave -update) and checks it equals the rule set it came from.
func TestSaveCapturesMatchRuleSets(t *testing.T) {
	for _, c := range saveCases() {
		for _, b := range saveBackends {
			for _, fam := range Families {
				t.Run(filepath.Base(savePath(c.name, b, fam)), func(t *testing.T) {
					rs := mustBuild(t, c.cfg, fam)
					have := readCapture(t, savePath(c.name, b, fam)).Ours()
					if d := diff(wantState(rs), have); len(d) > 0 {
						t.Errorf("capture differs from the rule set:\n%s", strings.Join(d, "\n"))
					}
				})
			}
		}
	}
}

func readCapture(t *testing.T, path string) SavedTable {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := ParseSave(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// TestDiffNamesTheDifference edits a real capture the way a person or
// another tool could and checks the differences are named line by line.
func TestDiffNamesTheDifference(t *testing.T) {
	const v0 = "v0-exclusions"
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unchanged", func(s string) string { return s }, nil},
		{"rule deleted", drop("-A PROXY_INBOUND -p tcp -m tcp --dport 15010 -j RETURN"),
			[]string{"missing rule: -A PROXY_INBOUND -p tcp -m tcp --dport 15010 -j RETURN"}},
		{"jump duplicated", dup("-A OUTPUT -p tcp -j PROXY_OUTPUT"),
			[]string{"extra rule: -A OUTPUT -p tcp -j PROXY_OUTPUT"}},
		{"foreign rule ignored", dup("-A OUTPUT -p udp -j RETURN"), nil},
		{"network changed", replace("-d 10.0.0.0/24", "-d 10.0.0.0/16"),
			[]string{"missing rule: -A PROXY_OUTPUT -d 10.0.0.0/24 -j RETURN", "extra rule: -A PROXY_OUTPUT -d 10.0.0.0/16 -j RETURN"}},
		{"-I order reversed", swap("-A PROXY_OUTPUT -d 10.0.0.0/24 -j RETURN", "-A PROXY_OUTPUT -d 1.1.1.1/32 -j RETURN"),
			[]string{`rules of PROXY_OUTPUT in another order: want ["-p tcp -m multiport --dports 6379,7070,8080 -j RETURN" "-d 10.0.0.0/24 -j RETURN" "-d 1.1.1.1/32 -j RETURN" "-m owner --uid-owner 1500 -j RETURN" "-d 127.0.0.1/32 -j RETURN" "-j PROXY_REDIRECT"], have ["-p tcp -m multiport --dports 6379,7070,8080 -j RETURN" "-d 1.1.1.1/32 -j RETURN" "-d 10.0.0.0/24 -j RETURN" "-m owner --uid-owner 1500 -j RETURN" "-d 127.0.0.1/32 -j RETURN" "-j PROXY_REDIRECT"]`}},
		{"other profile's chain left", replace("COMMIT", ":OSM_PROXY_INBOUND - [0:0]\n-A OSM_PROXY_INBOUND -j RETURN\nCOMMIT"),
			[]string{"extra chain OSM_PROXY_INBOUND", "extra rule: -A OSM_PROXY_INBOUND -j RETURN"}},
		{"chain missing", replace(":PROXY_IN_REDIRECT - [0:0]\n", ""),
			[]string{"missing chain PROXY_IN_REDIRECT", "missing rule: -A PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15003"}},
	}
	base, err := os.ReadFile(savePath(v0, "nft", IPv4))
	if err != nil {
		t.Fatal(err)
	}
	cfg := saveCases()[1].cfg
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := ParseSave(tt.edit(string(base)))
			if err != nil {
				t.Fatal(err)
			}
			got := diff(wantState(mustBuild(t, cfg, IPv4)), tbl.Ours())
			if !slices.Equal(got, tt.want) {
				t.Errorf("diff:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func drop(line string) func(string) string { return replace(line+"\n", "") }

func dup(line string) func(string) string { return replace("COMMIT", line+"\nCOMMIT") }

func replace(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

func swap(a, b string) func(string) string {
	return func(s string) string {
		return strings.NewReplacer(a, b, b, a).Replace(s)
	}
}
