package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/netns"
)

// TestCaptureSave rewrites testdata/save/ with -update: every case applied
// in a fresh network namespace by each backend, in each family, and read
// back with iptables-save -t nat. Without -update it does nothing.
func TestCaptureSave(t *testing.T) {
	if !*rules.Update {
		t.Skip("rewrites testdata/save/ only with -update")
	}
	var progs []string
	for _, b := range rules.SaveBackends {
		for _, fam := range rules.Families {
			progs = append(progs, fmt.Sprintf("%s-%s-save", fam.Iptables(), b), fmt.Sprintf("%s-%s-restore", fam.Iptables(), b))
		}
	}
	netns.RequireKernel(t, progs...)
	if err := os.MkdirAll(filepath.Join("testdata", "save"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, cfgs := rules.SaveCases()
	for _, b := range rules.SaveBackends {
		for i, cfg := range cfgs {
			pod := netns.New(t)
			var sets []rules.RuleSet
			for _, fam := range rules.Families {
				rs, err := rules.Build(cfg, fam)
				if err != nil {
					t.Fatal(err)
				}
				sets = append(sets, rs)
			}
			err := pod.Do(func() error {
				_, err := apply.Apply(sets, apply.Options{LockDir: t.TempDir(), Backend: apply.Backend(b)})
				return err
			})
			if err != nil {
				t.Fatalf("%s %s: %v", names[i], b, err)
			}
			for _, fam := range rules.Families {
				if err := os.WriteFile(rules.SavePath(names[i], b, fam), []byte(saved(t, pod, b, fam)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// saved is `iptables-<b>-save -t nat` of one family in the pod, without
// the comment lines, which carry the time.
func saved(t *testing.T, pod *netns.NS, b string, fam rules.Family) string {
	var keep []string
	for _, l := range strings.Split(pod.Run(t, fmt.Sprintf("%s-%s-save", fam.Iptables(), b), "-t", rules.Table), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
