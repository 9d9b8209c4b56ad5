package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/images"
	"github.com/mesh-cni/mesh-cni/test/osmhost"
)

// appImageRef is the test application's image (test/images).
const appImageRef = images.App

// loadImages builds the two images and imports them into the node's
// containerd (the same function the e2e suite calls).
func (d *demo) loadImages() error {
	d.header("The images: mesh-cni's (go run ./cmd/mkimage) and the test app's (test/e2e/meshapp), built here and imported into the node's containerd: nothing is pulled from a registry")
	t0 := time.Now()
	// Under the node's state dir: tear-down takes it away after Ctrl-C too.
	dir, err := os.MkdirTemp(cluster.NodeStateDir, "demo-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tars, err := images.Build(d.repo, dir)
	if err != nil {
		return err
	}
	for _, tar := range tars {
		d.halted()
		if err := d.node.ImportImageFile(tar); err != nil {
			return err
		}
	}
	d.note("%s and %s built and imported in %.1fs", images.MeshCNI, appImageRef, time.Since(t0).Seconds())
	return nil
}

// deploy installs mesh-cni exactly as the README says and waits until both
// its DaemonSet and its webhook serve.
func (d *demo) deploy() error {
	d.header("mesh-cni: kubectl apply -k deploy/ as is: the installer DaemonSet (puts the plugin last in the node's CNI chain, and is its node agent) and the admission webhook that takes osm-init out of OSM-injected pods")
	t0 := time.Now()
	// deploy/'s Role for the mesh's objects lives in the mesh's namespace,
	// which installing OSM creates; the demo installs OSM's injector next.
	fmt.Printf("$ kubectl create namespace osm-system   # OSM's namespace, as installing OSM makes it\n")
	if out, err := d.kubectl([]byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: osm-system\n"), "apply", "-f", "-"); err != nil {
		printBlock(out)
		return err
	}
	fmt.Printf("$ kubectl apply -k deploy/\n")
	out, err := d.kubectl(nil, "apply", "-k", filepath.Join(d.repo, "deploy"))
	printBlock(out)
	if err != nil {
		return err
	}
	for _, obj := range []string{"daemonset/mesh-cni", "deployment/" + osmhost.MeshCNIWebhook} {
		if _, err := d.show("rollout", "status", "-n", "mesh-cni", obj, "--timeout=180s"); err != nil {
			logs, _ := d.kubectl(nil, "logs", "-n", "mesh-cni", obj, "--tail=40")
			return fmt.Errorf("%s did not roll out: %w\n%s", obj, err, logs)
		}
	}
	// The server writes its CA into the configuration; until then the API
	// server cannot call it (failurePolicy Ignore: pods would keep osm-init).
	if err := poll(60*time.Second, func() error {
		ca, err := d.kubectl(nil, "get", "mutatingwebhookconfiguration", osmhost.MeshCNIWebhookConfig, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		if err == nil && strings.TrimSpace(ca) == "" {
			err = fmt.Errorf("%s has no caBundle yet", osmhost.MeshCNIWebhookConfig)
		}
		return err
	}); err != nil {
		return err
	}
	d.note("mesh-cni installed and its webhook serving %.1fs after kubectl apply", time.Since(t0).Seconds())
	return nil
}

// startOSM starts OSM's real injector, or reuses the one an earlier run
// left serving.
func (d *demo) startOSM() error {
	d.header("OSM v1.2.4's own injector (osm-injector from the module proxy) run on this machine as a host process, with OSM's CRDs and MeshConfig: it injects envoy and osm-init into the pods of monitored namespaces, as in a real OSM install")
	if inj, ok := osmhost.Running(d.kubectl); ok {
		d.note("reusing osm-injector (pid %d), serving its webhook %s", inj.Pid(), osmhost.WebhookConfig)
		return nil
	}
	t0 := time.Now()
	inj, err := osmhost.Start(d.kubectl, osmhost.Options{Kubeconfig: d.node.AdminKubeconfig, OSMDir: d.bins.OSMDir, AppImage: appImageRef, Outlive: true})
	if err != nil {
		return err
	}
	d.note("osm-injector (pid %d) serving its webhook %s %.1fs after start; its log: %s/logs/osm-injector.log",
		inj.Pid(), osmhost.WebhookConfig, time.Since(t0).Seconds(), cluster.NodeStateDir)
	return nil
}

// poll calls f until it returns nil or timeout passes; the error is f's last.
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
