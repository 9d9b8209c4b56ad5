package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/netns"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// requireIptables fails a kernel test that cannot run (see
// netns.RequireKernel): it needs root and both backends' programs.
func requireIptables(t testing.TB) {
	t.Helper()
	var progs []string
	for _, b := range []Backend{BackendNFT, BackendLegacy} {
		for _, fam := range rules.Families {
			for _, tl := range []tool{toolSave, toolRestore} {
				progs = append(progs, fmt.Sprintf("%s-%s-%s", fam.Iptables(), b, tl))
			}
		}
	}
	netns.RequireKernel(t, progs...)
}

// testPod is a network namespace standing for a pod, with a lock directory
// of its own test.
type testPod struct {
	*netns.NS
	lockDir string
	// wireDir is Options.WireDir: "" keeps to iptables-restore.
	wireDir string
}

func newPod(t testing.TB) *testPod {
	t.Helper()
	return &testPod{NS: netns.New(t), lockDir: t.TempDir()}
}

// inNetnsFiles opens what inNetns takes: the pod's namespace by its path,
// as the plugin passes CNI_NETNS, so the worker thread enters it from the
// test's own namespace; and a lock file that starts out holding content,
// as one a killed mesh-cni left behind may. Both close when the test ends.
func (p *testPod) inNetnsFiles(t testing.TB, content string) (netns, nss *os.File) {
	t.Helper()
	lockFile := filepath.Join(p.lockDir, "netns.lock")
	if err := os.WriteFile(lockFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	nss, err := os.OpenFile(lockFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nss.Close() })
	netns, err = os.Open(p.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Close() })
	return netns, nss
}

func (p *testPod) opts(b Backend) Options {
	return Options{LockDir: p.lockDir, Backend: b, WireDir: p.wireDir}
}

// apply runs Apply inside the pod's namespace.
func (p *testPod) apply(sets []rules.RuleSet, b Backend) (res Result, err error) {
	err = p.Do(func() error {
		res, err = Apply(sets, p.opts(b))
		return err
	})
	return res, err
}

func (p *testPod) mustApply(t testing.TB, sets []rules.RuleSet, b Backend) Result {
	t.Helper()
	res, err := p.apply(sets, b)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func (p *testPod) verify(sets []rules.RuleSet, b Backend) error {
	return p.Do(func() error { return Verify(sets, p.opts(b)) })
}

func (p *testPod) cleanup(b Backend) error {
	return p.Do(func() error { return Cleanup(p.opts(b)) })
}

// save is `iptables-<b>-save -t nat` of one family in the pod, without the
// comment lines, which carry the time.
func (p *testPod) save(t testing.TB, b Backend, fam rules.Family) string {
	t.Helper()
	out := p.Run(t, fmt.Sprintf("%s-%s-save", fam.Iptables(), b), "-t", rules.Table)
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// restore feeds a document to `iptables-<b>-restore --noflush` in the pod,
// as someone other than mesh-cni would.
func (p *testPod) restore(t testing.TB, b Backend, fam rules.Family, doc string) {
	t.Helper()
	p.Run(t, "sh", "-c", fmt.Sprintf("%s-%s-restore --noflush <<'EOF'\n%sEOF", fam.Iptables(), b, doc))
}

// buildSets builds a configuration's rule sets for both families.
func buildSets(t testing.TB, cfg rules.Config) []rules.RuleSet {
	t.Helper()
	var sets []rules.RuleSet
	for _, fam := range rules.Families {
		sets = append(sets, mustBuild(t, cfg, fam))
	}
	return sets
}

func mustBuild(t testing.TB, cfg rules.Config, fam rules.Family) rules.RuleSet {
	t.Helper()
	rs, err := rules.Build(cfg, fam)
	if err != nil {
		t.Fatalf("Build %s: %v", fam, err)
	}
	return rs
}
