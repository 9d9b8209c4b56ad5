package apply

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// osmInitShell is a directory where "iptables" and "iptables-restore" are
// the nf_tables backend's, as in a node image whose alternatives chose it:
// what osm-init's /bin/sh found on PATH.
func osmInitShell(t *testing.T) string {
	t.Helper()
	multi, err := lookPath("xtables-nft-multi")
	if err != nil {
		t.Fatalf("xtables-nft-multi: %v", err)
	}
	dir := t.TempDir()
	for _, name := range []string{"iptables", "iptables-restore"} {
		if err := os.Symlink(multi, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runOSMInit runs script as osm-init did, `/bin/sh -c script`, in the pod
// with POD_IP in its environment (osm-init had it from the downward API).
func (p *testPod) runOSMInit(shellDir, script string, podIP netip.Addr) (string, error) {
	var out []byte
	err := p.Do(func() error {
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = []string{"PATH=" + shellDir + ":/usr/sbin:/usr/bin:/sbin:/bin", "POD_IP=" + podIP.String()}
		var err error
		out, err = cmd.CombinedOutput()
		return err
	})
	return string(out), err
}

// natIPv4 is the pod's `iptables-nft-save -t nat`, comments dropped and
// counters zeroed.
func (p *testPod) natIPv4(t *testing.T) string {
	t.Helper()
	return counters.ReplaceAllString(p.save(t, BackendNFT, rules.IPv4), "[0:0]")
}

// TestRecordedCommandRulesAreOSMInits runs each accepted recorded command
// (testdata/record/accept: v0 with exclusions, v1.0, v1.1+ with PodIP,
// osm-edge with its DNS rule, port lists past 15) with /bin/sh in one
// fresh pod namespace, as osm-init would have, and applies the parsed
// Config's rule set with Apply in another: both nat tables must read the
// same. A script with a port list past 15 ports must fail in the shell, as
// osm-init did, and its split form, which mesh-cni installs, is the one run.
func TestRecordedCommandRulesAreOSMInits(t *testing.T) {
	requireIptables(t)
	shellDir := osmInitShell(t)
	podIP := netip.MustParseAddr("10.244.0.7")
	paths, err := filepath.Glob("../testdata/record/accept/*.osm-init")
	if err != nil || len(paths) < 8 {
		t.Fatalf("%d accepted recorded commands (%v), want at least 8", len(paths), err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".osm-init"), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			script := string(b)
			cfg, err := rules.ParseOSMInit(script)
			if err != nil {
				t.Fatal(err)
			}
			// Build's rendering is the script with its port lists past 15
			// split (the rules package's tests prove it).
			split := rules.RenderOSMInit(mustBuild(t, cfg, rules.IPv4))
			cfg.PodIPs = []netip.Addr{podIP}
			rs := mustBuild(t, cfg, rules.IPv4)

			if split != strings.TrimSuffix(script, "\n") {
				out, err := newPod(t).runOSMInit(shellDir, script, podIP)
				if err == nil || !strings.Contains(out, "too many ports specified") {
					t.Fatalf("osm-init's own script with more than 15 ports: %v: %s; want iptables to refuse it", err, out)
				}
				script = split
			}
			osmInit := newPod(t)
			if out, err := osmInit.runOSMInit(shellDir, script, podIP); err != nil {
				t.Fatalf("/bin/sh -c <the recorded command>: %v: %s", err, out)
			}
			want := osmInit.natIPv4(t)

			mesh := newPod(t)
			mesh.mustApply(t, []rules.RuleSet{rs}, BackendNFT)
			if got := mesh.natIPv4(t); got != want {
				t.Errorf("Apply of the parsed Config left\n%s\nosm-init's script left\n%s", got, want)
			}
			if n := strings.Count(want, "\n-A "); n != len(rs.Rules) {
				t.Errorf("osm-init's script left %d rules, the rule set has %d:\n%s", n, len(rs.Rules), want)
			}
			if cfg.LocalProxyMode == rules.LocalProxyPodIP && !strings.Contains(want, "--to-destination "+podIP.String()) {
				t.Errorf("no DNAT to the pod's %s after osm-init's script:\n%s", podIP, want)
			}
		})
	}
}
