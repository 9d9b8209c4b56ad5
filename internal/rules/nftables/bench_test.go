package nftables

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// BenchmarkWriteVsRestore applies the default osm-v0 rules.IPv4 set to a fresh
// network namespace, once with Write and once with iptables-nft-restore
// --noflush, per iteration, and reports both medians (ns/op covers both
// plus making the namespaces). Run with -bench WriteVsRestore as root.
func BenchmarkWriteVsRestore(b *testing.B) {
	requireKernel(b)
	doc, err := os.ReadFile(filepath.Join(goldenDir, "v0-default.restore"))
	if err != nil {
		b.Fatal(err)
	}
	s := parseDoc(b, string(doc), rules.IPv4)
	restore := func() error {
		cmd := exec.Command("iptables-nft-restore", "--noflush")
		cmd.Stdin = strings.NewReader(string(doc))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	var writes, restores []time.Duration
	for b.Loop() {
		for _, run := range []struct {
			f   func() error
			out *[]time.Duration
		}{{func() error { return Write(&s) }, &writes}, {restore, &restores}} {
			d, err := timeInNewNetns(run.f)
			if err != nil {
				b.Fatal(err)
			}
			*run.out = append(*run.out, d)
		}
	}
	w, r := median(writes), median(restores)
	b.ReportMetric(float64(w.Microseconds()), "write-µs")
	b.ReportMetric(float64(r.Microseconds()), "restore-µs")
	b.Logf("v0-default, %d runs each: Write median %v, iptables-nft-restore median %v (%.0fx)", len(writes), w, r, float64(r)/float64(w))
}

// timeInNewNetns times f on a thread that has just entered a network
// namespace of its own; the thread (and so the namespace) is dropped
// afterwards, since the goroutine never unlocks it.
func timeInNewNetns(f func() error) (time.Duration, error) {
	type result struct {
		d   time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: err}
			return
		}
		start := time.Now()
		err := f()
		done <- result{time.Since(start), err}
	}()
	r := <-done
	return r.d, r.err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
