package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mesh-cni/mesh-cni/test/osmhost"
)

// The demo's objects.
const (
	nsDemo = "mesh-demo"
	// nsPeer is not monitored by the mesh: its pod gets no sidecar.
	nsPeer   = "default"
	podPeer  = "peer"
	podApp   = "app"
	podExcl  = "app-excluded"
	podBad   = "app-bad-annotation"
	portAnno = "openservicemesh.io/outbound-port-exclusion-list"
)

// demoPod is one of the demo's pods; ready: it is expected to become Ready.
type demoPod struct {
	namespace, name string
	annotations     map[string]string
	ready           bool
}

var demoPods = []demoPod{
	{namespace: nsPeer, name: podPeer, ready: true},
	{namespace: nsDemo, name: podApp, ready: true},
	{namespace: nsDemo, name: podExcl, annotations: map[string]string{portAnno: "8080"}, ready: true},
	{namespace: nsDemo, name: podBad, annotations: map[string]string{portAnno: "70000"}},
}

// createPods creates the meshed namespace and the pods as a user would,
// keeping those an earlier run created.
func (d *demo) createPods() error {
	d.header("The pods: a namespace the mesh monitors, enforcing Pod Security baseline (which refuses osm-init's NET_ADMIN), and pods written as their author writes them; OSM's injector adds envoy and osm-init, mesh-cni's webhook takes osm-init out")
	if _, err := d.showStdin(osmhost.MeshNamespace(nsDemo, osmhost.Baseline), "apply", "-f", "-"); err != nil {
		return err
	}
	fmt.Printf("    the pod %s/%s, before OSM's injector:\n", nsDemo, podApp)
	printBlock(osmhost.AppPod(nsDemo, podApp, appImageRef, nil))
	for _, p := range demoPods {
		if err := d.ensurePod(p); err != nil {
			return err
		}
	}
	return nil
}

// ensurePod creates the pod unless it exists and, for a pod expected to
// start, waits until it is Ready and says how long that took.
func (d *demo) ensurePod(p demoPod) error {
	ref := p.namespace + "/" + p.name
	if _, err := d.kubectl(nil, "get", "pod", "-n", p.namespace, p.name); err == nil {
		if !p.ready {
			d.note("%s: kept from an earlier run", ref)
			return nil
		}
		if err := d.waitReady(p, 120*time.Second); err != nil {
			return err
		}
		took, err := d.readyAfterCreation(p)
		if err != nil {
			return err
		}
		d.note("%s: kept from an earlier run; it was Ready %s after its creation (its status's timestamps)", ref, took)
		return nil
	}
	t0 := time.Now()
	if _, err := d.kubectl([]byte(osmhost.AppPod(p.namespace, p.name, appImageRef, p.annotations)), "create", "-f", "-"); err != nil {
		return err
	}
	if !p.ready {
		d.note("%s: created (annotation %s: %q)", ref, portAnno, p.annotations[portAnno])
		return nil
	}
	if err := d.waitReady(p, 120*time.Second); err != nil {
		return err
	}
	d.note("%s: Ready %.1fs after kubectl create (measured)", ref, time.Since(t0).Seconds())
	return nil
}

// waitReady waits for the pod's Ready condition, with its description
// in the error when it does not come.
func (d *demo) waitReady(p demoPod, timeout time.Duration) error {
	err := poll(timeout, func() error {
		out, err := d.kubectl(nil, "get", "pod", "-n", p.namespace, p.name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err == nil && out != "True" {
			err = fmt.Errorf("Ready=%q", out)
		}
		return err
	})
	if err != nil {
		desc, _ := d.kubectl(nil, "describe", "pod", "-n", p.namespace, p.name)
		return fmt.Errorf("pod %s/%s not Ready after %s: %w\n%s", p.namespace, p.name, timeout, err, desc)
	}
	return nil
}

// readyAfterCreation reads from the pod's status how long it took to
// become Ready (second resolution, as the API stores it).
func (d *demo) readyAfterCreation(p demoPod) (time.Duration, error) {
	out, err := d.kubectl(nil, "get", "pod", "-n", p.namespace, p.name, "-o", "json")
	if err != nil {
		return 0, err
	}
	var st struct {
		Metadata struct{ CreationTimestamp time.Time }
		Status   struct {
			Conditions []struct {
				Type               string
				LastTransitionTime time.Time
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return 0, fmt.Errorf("parsing pod %s/%s: %w", p.namespace, p.name, err)
	}
	for _, c := range st.Status.Conditions {
		if c.Type == "Ready" {
			return c.LastTransitionTime.Sub(st.Metadata.CreationTimestamp), nil
		}
	}
	return 0, fmt.Errorf("pod %s/%s has no Ready condition", p.namespace, p.name)
}
