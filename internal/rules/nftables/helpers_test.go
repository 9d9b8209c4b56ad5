package nftables

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/test/netns"
)

// goldenDir holds internal/rules' rendered iptables-restore documents.
const goldenDir = "../testdata/golden"

// requireKernel makes the test a kernel test: root, ip and both
// iptables-nft programs, or a failure (a skip with MESH_CNI_SKIP_KERNEL=1).
func requireKernel(t testing.TB) {
	t.Helper()
	netns.RequireKernel(t, "iptables-nft-restore", "ip6tables-nft-restore", "iptables-nft-save", "ip6tables-nft-save")
}

// parseDoc reads an iptables-restore document for the nat table into a
// rule set, with package rules' one parser.
func parseDoc(t testing.TB, doc string, fam rules.Family) rules.RuleSet {
	t.Helper()
	rs, err := rules.ParseRestore(doc, fam)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// golden is one document of internal/rules/testdata/golden.
type golden struct {
	name string
	fam  rules.Family
	doc  string
}

func goldenDocs(t testing.TB) []golden {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.restore"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden documents in %s: %v", goldenDir, err)
	}
	var out []golden
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".restore")
		fam := rules.IPv4
		if strings.HasSuffix(name, "-ipv6") {
			fam = rules.IPv6
		}
		out = append(out, golden{name, fam, string(b)})
	}
	return out
}

func prog(fam rules.Family, tool string) string {
	if fam == rules.IPv6 {
		return "ip6tables-nft-" + tool
	}
	return "iptables-nft-" + tool
}

// restore applies doc with the node's iptables-nft-restore --noflush.
func restore(t testing.TB, ns *netns.NS, fam rules.Family, doc string) {
	t.Helper()
	err := ns.Do(func() error {
		cmd := exec.Command(prog(fam, "restore"), "--noflush")
		cmd.Stdin = strings.NewReader(doc)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// write applies rs with Write inside ns.
func write(ns *netns.NS, rs rules.RuleSet) error {
	return ns.Do(func() error { return Write(&rs) })
}

// dump is Dump inside ns; the test fails on an error.
func dump(t testing.TB, ns *netns.NS, fam rules.Family) string {
	t.Helper()
	var d []byte
	if err := ns.Do(func() (err error) { d, err = Dump(fam); return err }); err != nil {
		t.Fatalf("Dump in %s: %v", ns.Name, err)
	}
	return string(d)
}

// save is iptables-nft-save -t nat without its "#" comment lines, which
// carry the time.
func save(t testing.TB, ns *netns.NS, fam rules.Family) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(ns.Run(t, prog(fam, "save"), "-t", "nat"), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// sameAsIptables applies doc with iptables-nft-restore in one new
// namespace and with Write in another, and requires both Dump and
// iptables-nft-save to be equal. It returns Write's dump.
func sameAsIptables(t *testing.T, fam rules.Family, doc string) string {
	t.Helper()
	s := parseDoc(t, doc, fam)
	if err := Check(&s); err != nil {
		t.Fatalf("Check: %v", err)
	}
	ipt, ours := netns.New(t), netns.New(t)
	restore(t, ipt, fam, doc)
	if err := write(ours, s); err != nil {
		t.Fatalf("Write: %v", err)
	}
	want, got := dump(t, ipt, fam), dump(t, ours, fam)
	if got != want {
		t.Errorf("Dump after Write differs from Dump after %s:\n%s", prog(fam, "restore"), lineDiff(want, got))
	}
	if want, got := save(t, ipt, fam), save(t, ours, fam); got != want {
		t.Errorf("%s after Write differs:\n%s", prog(fam, "save"), lineDiff(want, got))
	}
	return got
}

// lineDiff shows the lines that differ, marked - (iptables) and + (Write).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
