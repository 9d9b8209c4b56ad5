// Command bench measures mesh-cni side by side with the osm-init init
// container it replaces and writes docs/benchmarks.md and
// docs/benchmarks.png (`make bench-report`). It needs root: it makes
// network namespaces and bridges, runs iptables in both backends, starts
// a kube-apiserver on loopback with the plugin's node agent in this
// process (test/agentrun; the DaemonSet's in production) and, for pod
// start-up, a real single-node Kubernetes (test/cluster), with OSM
// v1.2.4's real injector and mesh-cni's webhook for podstart-osm. Every
// comparison takes turns between the contenders in the same run, so a
// slow moment of the machine falls on both alike. Nothing is asserted:
// targets are reported.
//
//	go run ./test/bench [-runs 30] [-pods 20] [-rounds 2] [-only add,skip,...] [-baseline REV]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cnirun"
)

// config is what the flags set.
type config struct {
	out        string
	runs       int
	concurrent int
	pods       int
	rounds     int
	only       []string
	// baseline is a revision whose mesh-cni sections 1 and 2 also run.
	baseline string
}

// phaseNames are the measurements, in the order they run.
var phaseNames = []string{"add", "skip", "concurrency", "footprint", "podstart", "podstart-osm"}

func main() {
	var cfg config
	var only string
	flag.StringVar(&cfg.out, "out", "docs", "directory for benchmarks.md and benchmarks.png")
	flag.IntVar(&cfg.runs, "runs", 30, "runs per contender and backend for ADD latency and the skip path")
	flag.IntVar(&cfg.concurrent, "concurrent", 100, "ADDs started at once in the concurrency test")
	flag.IntVar(&cfg.pods, "pods", 20, "pods per batch in the pod start-up tests")
	flag.IntVar(&cfg.rounds, "rounds", 2, "batches per variant in the pod start-up tests (taking turns; podstart-osm rounds it up to a multiple of its 5 contenders)")
	flag.StringVar(&only, "only", strings.Join(phaseNames, ","), "comma-separated measurements to run (the page says which were left out)")
	flag.StringVar(&cfg.baseline, "baseline", "", "a git revision whose mesh-cni ADD latency and skip path also run, taking turns with this tree's (e.g. main)")
	flag.Parse()
	cfg.only = strings.Split(only, ",")
	for _, p := range cfg.only {
		if !slices.Contains(phaseNames, p) {
			fmt.Fprintf(os.Stderr, "bench: -only: unknown measurement %q (want some of %s)\n", p, strings.Join(phaseNames, ","))
			os.Exit(2)
		}
	}
	restore := cnirun.LeaveRunDirAsFound()
	err := run(cfg)
	restore()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, iptables, a local Kubernetes node)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res := &results{started: time.Now(), cfg: cfg}
	var err error
	if res.machine, err = describeMachine(); err != nil {
		return err
	}
	var b *binaries
	err = runPhase(ctx, "build", func(t *phase) {
		b = buildBinaries(t)
		if cfg.baseline != "" {
			b.baseline = buildBaseline(t, b, cfg.baseline)
		}
	})
	if err != nil {
		return err
	}
	defer b.remove()
	res.binarySize, res.baseline = b.meshCNISize, b.baseline
	var failures []string
	want := func(name string) bool { return slices.Contains(cfg.only, name) }
	kernel := func(t *phase) {
		k := newKernelEnv(t, b)
		if want("add") {
			res.add = measureAddLatency(t, k, cfg.runs)
		}
		if want("skip") {
			res.skip = measureSkip(t, k, cfg.runs)
		}
		if want("concurrency") {
			res.concurrency = measureConcurrency(t, k, cfg.concurrent)
		}
		if want("footprint") {
			res.installer = measureInstaller(t, k)
		}
	}
	if want("add") || want("skip") || want("concurrency") || want("footprint") {
		if err := runPhase(ctx, "kernel", kernel); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if want("podstart") && ctx.Err() == nil {
		if err := runPhase(ctx, "podstart", func(t *phase) { res.podStart = measurePodStart(t, b, cfg.pods, cfg.rounds) }); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if want("podstart-osm") && ctx.Err() == nil {
		err := runPhase(ctx, "podstart-osm", func(t *phase) { res.podStartOSM = measurePodStartOSM(t, b, cfg.pods, cfg.rounds) })
		if err != nil {
			failures = append(failures, err.Error())
		}
	}
	res.finished = time.Now()
	res.loadEnd = loadAvg()
	res.failures = failures
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; no report written")
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", cfg.out, err)
	}
	png := filepath.Join(cfg.out, "benchmarks.png")
	if err := writePlot(res, png); err != nil {
		return fmt.Errorf("writing %s: %w", png, err)
	}
	md := filepath.Join(cfg.out, "benchmarks.md")
	if err := os.WriteFile(md, []byte(renderReport(res)), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", md, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", md, png)
	if len(failures) > 0 {
		return fmt.Errorf("some measurements failed (the page says which): %s", strings.Join(failures, "; "))
	}
	return nil
}
