package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// demo is one run of make demo.
type demo struct {
	repo string
	bins cluster.Binaries
	node *cluster.Node
	step int

	mu sync.Mutex
	// started: this run is bringing up (or brought up) the node, so an
	// interrupt tears it down.
	started bool
	// interrupted: the signal handler owns the exit.
	interrupted bool
}

func up() error {
	start := time.Now()
	d := &demo{}
	var err error
	if d.repo, err = cluster.RepoRoot(); err != nil {
		return err
	}
	stop := d.onInterrupt()
	defer stop()
	err = d.run(start)
	if err != nil {
		// Ctrl-C reaches the commands the demo runs too, which then fail
		// here a moment before the handler has claimed the signal: let it.
		time.Sleep(300 * time.Millisecond)
	}
	d.mu.Lock()
	if d.interrupted {
		d.mu.Unlock()
		select {} // the handler tears down and exits
	}
	d.mu.Unlock()
	if err != nil && d.node != nil {
		fmt.Fprintf(os.Stderr, "\nThe node is still up for a look (export KUBECONFIG=%s; logs in %s/logs); make demo-down removes it.\n",
			d.node.AdminKubeconfig, cluster.NodeStateDir)
	}
	return err
}

func (d *demo) run(start time.Time) error {
	d.header("The tools: test/tools/build.sh builds Kubernetes v1.33.13, the CNI plugins and OSM v1.2.4's injector from the Go module proxy into its cache; the first run takes 10+ minutes (its progress follows), later runs a second")
	t0 := time.Now()
	bins, err := cluster.EnsureBinaries()
	if err != nil {
		return err
	}
	d.bins = bins
	d.note("tools ready in %.1fs (cache %s)", time.Since(t0).Seconds(), bins.CacheDir)
	// Held to the end: a test starting its node meanwhile waits instead of
	// tearing this one down under the demo.
	unlock, err := cluster.HoldNode(logf)
	if err != nil {
		return err
	}
	defer unlock()
	steps := []func() error{d.ensureNode, d.loadImages, d.deploy, d.startOSM, d.createPods,
		d.showPod, d.showDescribe, d.showNAT, d.showTraffic, d.showExclusion, d.showBadAnnotation}
	for _, step := range steps {
		d.halted()
		if err := step(); err != nil {
			return err
		}
	}
	d.closing(time.Since(start))
	return nil
}

// ensureNode reuses the node an earlier make demo left running, else
// starts one.
func (d *demo) ensureNode() error {
	d.header("The node: test/cluster's single-node Kubernetes on this machine (etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet, kube-proxy, the bridge CNI), reused when an earlier make demo left it running")
	t0 := time.Now()
	n, err := cluster.RunningNode()
	if err == nil {
		d.node = n
		d.note("reusing the running node %s (checked in %.1fs)", n.Name, time.Since(t0).Seconds())
		return nil
	}
	d.note("no node to reuse (%v): starting one", err)
	d.mu.Lock()
	d.started = true
	d.mu.Unlock()
	if n, err = cluster.BringUpNode(logf); err != nil {
		if derr := cluster.TearDownNode(logf); derr != nil {
			return fmt.Errorf("starting the node: %w (and tearing it down: %v)", err, derr)
		}
		return fmt.Errorf("starting the node (torn down again): %w", err)
	}
	d.node = n
	d.note("node %s Ready in %.1fs", n.Name, time.Since(t0).Seconds())
	return nil
}

// halted blocks for good once an interrupt is being handled: nothing new
// may start against a node that is being torn down.
func (d *demo) halted() {
	d.mu.Lock()
	stop := d.interrupted
	d.mu.Unlock()
	if stop {
		select {}
	}
}

// onInterrupt makes Ctrl-C (or SIGTERM) tear down a node this run started,
// and say how to stop one it reused.
func (d *demo) onInterrupt() (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-sig:
		}
		d.mu.Lock()
		d.interrupted = true
		started := d.started
		d.mu.Unlock()
		if !started {
			fmt.Fprintln(os.Stderr, "\nmake demo: interrupted. A node an earlier run started stays up as it is; make demo-down stops it and leaves the host as it was.")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "\nmake demo: interrupted: tearing down the node this run started (further Ctrl-C are ignored until it is done)")
		if err := cluster.TearDownNode(logf); err != nil {
			fmt.Fprintf(os.Stderr, "make demo: tear-down incomplete (%v): run make demo-down\n", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "make demo: the node is gone")
		os.Exit(130)
	}()
	return func() { signal.Stop(sig); close(done) }
}

// closing says how to use and stop the node.
func (d *demo) closing(took time.Duration) {
	d.header("The node keeps running: use it, then stop it")
	fmt.Printf("make demo took %.1fs.\n\n", took.Seconds())
	fmt.Printf("  export KUBECONFIG=%s\n", d.node.AdminKubeconfig)
	if kubectl := d.node.KubectlPath(); kubectl != "/usr/bin/kubectl" {
		fmt.Printf("  export PATH=$PATH:%s\n", filepath.Dir(kubectl))
	}
	fmt.Printf("  kubectl get pods -A\n  kubectl describe pod -n %s %s\n\n", nsDemo, podApp)
	fmt.Printf("Logs of the node's processes: %s/logs. Pods use imagePullPolicy: Never with image %s.\n", cluster.NodeStateDir, appImageRef)
	fmt.Println("make demo again reuses the node and the pods; make demo-down stops everything and leaves the host as it was.")
}
