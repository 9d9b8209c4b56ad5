package apply

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/netns"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

var installRounds = flag.Int("install-rounds", 15, "BenchmarkInstall: rounds per benchmark iteration, each installing once per contender")

// contender is one way of installing the default rule set.
type contender struct {
	name string
	run  func(p *testPod) error
	took []time.Duration
}

// BenchmarkInstall times installing the default rule set (osm-v0, IPv4)
// in a fresh network namespace: through Apply, through Apply without the
// nsswitch isolation (to show what that costs), and through the osm-init
// command chain the seed documents (`sh -c "iptables -t nat -N ... && ..."`,
// 17 iptables processes). The contenders take turns, in a rotating order,
// so that a slow moment of the machine falls on all of them alike; each
// runs *installRounds times per iteration, so even -benchtime 1x gives
// figures. It prints min/median/max and the ratio of the medians; ns/op is
// Apply's median. Every osm-init namespace is then checked with Verify:
// both ways install the same rules.
//
//	go test ./internal/rules/apply/ -run '^$' -bench Install -benchtime 1x
func BenchmarkInstall(b *testing.B) {
	requireIptables(b)
	netns.RequireKernel(b, "sh", "iptables")
	rs, err := rules.Build(rules.DefaultConfig(rules.ProfileOSMv0), rules.IPv4)
	if err != nil {
		b.Fatal(err)
	}
	osmInit := rules.RenderOSMInit(rs)
	apply := func(p *testPod) error {
		_, err := p.apply([]rules.RuleSet{rs}, "")
		return err
	}
	// The netlink writer, on a node where the comparison was made before.
	wireDir := b.TempDir()
	if _, err := (&testPod{NS: netns.New(b), lockDir: b.TempDir(), wireDir: wireDir}).apply([]rules.RuleSet{rs}, ""); err != nil {
		b.Fatal(err)
	}
	cs := []*contender{
		{name: "Apply", run: apply},
		{name: "Apply over netlink (WireDir)", run: func(p *testPod) error {
			p.wireDir = wireDir
			res, err := p.apply([]rules.RuleSet{rs}, "")
			if err == nil && !res.Netlink {
				err = fmt.Errorf("Apply with WireDir = %+v, want it written over netlink", res)
			}
			return err
		}},
		{name: "Apply, no nsswitch isolation", run: func(p *testPod) error {
			isolateNSSwitch = false
			defer func() { isolateNSSwitch = true }()
			return apply(p)
		}},
		{name: "osm-init command chain (sh -c)", run: func(p *testPod) error {
			return p.Do(func() error {
				if out, err := exec.Command("sh", "-c", osmInit).CombinedOutput(); err != nil {
					return fmt.Errorf("%w: %s", err, out)
				}
				return nil
			})
		}},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < *installRounds; r++ {
			for k := range cs {
				c := cs[(k+r)%len(cs)]
				b.StopTimer()
				p := newPod(b)
				b.StartTimer()
				start := time.Now()
				err := c.run(p)
				c.took = append(c.took, time.Since(start))
				b.StopTimer()
				if err != nil {
					b.Fatalf("%s: %v", c.name, err)
				}
				if err := p.verify([]rules.RuleSet{rs}, ""); err != nil {
					b.Fatalf("%s installed other rules than Apply: %v", c.name, err)
				}
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	report(b, cs)
}

func report(b *testing.B, cs []*contender) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBenchmarkInstall: default rule set (osm-v0, IPv4) into a fresh netns, %d runs each, taking turns\n", len(cs[0].took))
	for _, c := range cs {
		lo, med, hi := stats(c.took)
		fmt.Fprintf(&sb, "  %-32s min %7.2fms  median %7.2fms  max %7.2fms\n", c.name, ms(lo), ms(med), ms(hi))
	}
	_, apply, _ := stats(cs[0].took)
	_, osm, _ := stats(cs[len(cs)-1].took)
	ratio := float64(osm) / float64(apply)
	fmt.Fprintf(&sb, "  osm-init / Apply (medians): %.1fx (the isolation alone: BenchmarkNSSwitchIsolation)\n", ratio)
	fmt.Fprint(os.Stdout, sb.String())
	b.ReportMetric(float64(apply.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(osm), "osm-init-ms")
	b.ReportMetric(ratio, "x-faster")
}

// stats is the minimum, median and maximum.
func stats(d []time.Duration) (lo, med, hi time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkNSSwitchIsolation measures what the private mount namespace
// with the minimal nsswitch.conf adds to every Apply, Verify and Cleanup:
// the worker thread is made either way, the isolation adds an unshare and
// two mounts. Each iteration runs 100 workers of each kind, taking turns;
// the metrics are microseconds per worker.
func BenchmarkNSSwitchIsolation(b *testing.B) {
	requireIptables(b)
	nss, err := os.Create(filepath.Join(b.TempDir(), "netns.lock"))
	if err != nil {
		b.Fatal(err)
	}
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		b.Fatal(err)
	}
	defer self.Close()
	defer nss.Close()
	var took [2]time.Duration // [isolated, plain]
	runs := 0
	for i := 0; i < b.N; i++ {
		for r := 0; r < 100; r++ {
			for k, iso := range []bool{true, false} {
				isolateNSSwitch = iso
				start := time.Now()
				if err := inNetns(self, nss, func() error { return nil }); err != nil {
					b.Fatal(err)
				}
				took[k] += time.Since(start)
			}
			runs++
		}
	}
	isolateNSSwitch = true
	iso, plain := us(took[0])/float64(runs), us(took[1])/float64(runs)
	fmt.Printf("\nBenchmarkNSSwitchIsolation: worker thread with isolation %.0fµs, without %.0fµs: isolation costs %.0fµs per call (%d runs each)\n", iso, plain, iso-plain, runs)
	b.ReportMetric(iso, "isolated-µs")
	b.ReportMetric(plain, "plain-µs")
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
