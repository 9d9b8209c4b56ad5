package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/cni"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/images"
	"github.com/mesh-cni/mesh-cni/test/osmhost"
	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// osmStartResult is issue 12's benchmark: `kubectl apply` to Ready on a
// real node with OSM v1.2.4's real injector, five contenders taking
// turns.
type osmStartResult struct {
	pods, rounds int
	// plain, osmInit, meshCNI, noValidation and floor are the
	// contenders, in the report's order: noValidation is meshCNI with the
	// webhook's --validation off, so that the validation container's cost
	// is the difference; floor is noValidation with mesh-cni out of the
	// chain, so that its pods are OSM's without osm-init and without any
	// rules: what no way of installing them can beat, given OSM's
	// injector and its sidecar.
	plain, osmInit, meshCNI, noValidation, floor *osmContender
	// osmInitSteps and validationSteps are where the init container's
	// time went in osm-init's and mesh-cni's measured pods.
	osmInitSteps, validationSteps *initTimeline
	// configured counts mesh-cni's RedirectionConfigured events on the
	// measured mesh-cni pods of both; onOSMInit mesh-cni's events of any
	// reason on the measured osm-init pods, for which it installs nothing
	// and writes none (a pod with osm-init is out of its scope).
	configured, onOSMInit int
}

// osmContender is one way of starting the same application pod.
type osmContender struct {
	// label names it in tables; prefix starts its pods' names.
	label, prefix, namespace string
	// inChain: mesh-cni is in the node's CNI chain for its batches.
	inChain bool
	// validation is the webhook's --validation for its batches: "true",
	// "false", or "" for a contender the webhook is not called for.
	validation string
	// shape says what is wrong with an admitted pod ("" when it is what
	// the contender claims to be).
	shape func(p podcheck.Pod) string
	// containers are the containers of its admitted pods, as
	// "init: osm-init; app, envoy".
	containers string
	// ready is each pod's apply to Ready, batch each batch's apply to its
	// last Ready, seen each pod's apply to its first watch event (admitted
	// and stored), node each pod's seen to Ready, apply each batch's
	// kubectl apply run.
	ready, batch, seen, node, apply series
	// measured names the pods of its measured batches.
	measured []string
}

// measurePodStartOSM brings up the node with mesh-cni's plugin installed
// directly (as measurePodStart does), OSM's injector as a host process and
// mesh-cni's webhook from deploy/, and takes turns between batches of the
// same application pod in five namespaces: one OSM does not monitor, with
// mesh-cni out of the chain (no mesh at all); one OSM monitors and
// mesh-cni's webhook does not (OSM's osm-init; mesh-cni in the chain
// steps aside); three both do (no osm-init, the recorded script): mesh-cni
// installs it with and without the validation container, and, for the
// floor, nothing does. Every admitted pod is checked to be what its
// contender claims.
func measurePodStartOSM(t *phase, b *binaries, pods, rounds int) *osmStartResult {
	// StartNode holds the machine-wide node lock until the phase ends.
	node := cluster.StartNode(t)
	for _, tar := range buildImages(t, b, t.TempDir()) {
		node.ImportImage(t, tar)
	}
	plainConf, meshedConf := nodeConflists(t, b, node)
	startOSMInjector(t, node)
	deployMeshCNIWebhook(t, b, node)
	r := &osmStartResult{pods: pods, rounds: rounds,
		plain:   &osmContender{label: "plain pods (no mesh)", prefix: "plain", namespace: "bench-plain", shape: plainShape},
		osmInit: &osmContender{label: "OSM, osm-init", prefix: "osminit", namespace: "bench-osm-init", inChain: true, shape: osmInitShape},
		meshCNI: &osmContender{label: "OSM, mesh-cni + webhook", prefix: "meshcni", namespace: "bench-mesh-cni", inChain: true,
			validation: "true", shape: meshCNIShape(true)},
		noValidation: &osmContender{label: "OSM, mesh-cni + webhook, validation off", prefix: "noval", namespace: "bench-mesh-cni-noval",
			inChain: true, validation: "false", shape: meshCNIShape(false)},
		floor: &osmContender{label: "OSM without osm-init and without rules (floor)", prefix: "floor", namespace: "bench-floor",
			validation: "false", shape: meshCNIShape(false)},
	}
	contenders := r.contenders()
	// The turns rotate by one a round: after a multiple of the contenders'
	// rounds each has had each place of a round as often, so that a drift
	// of the machine's speed over the run falls on all alike.
	if extra := rounds % len(contenders); extra != 0 {
		r.rounds += len(contenders) - extra
		t.Logf("%d rounds asked for; %d run, a multiple of the %d contenders", rounds, r.rounds, len(contenders))
	}
	node.Apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n%s---\n%s---\n%s---\n%s",
		r.plain.namespace, osmNamespaceYAML(r.osmInit.namespace, true), osmNamespaceYAML(r.meshCNI.namespace, false),
		osmNamespaceYAML(r.noValidation.namespace, false), osmNamespaceYAML(r.floor.namespace, false)))
	validation := "true" // deploy/'s
	for _, c := range contenders {
		c.setSeriesNames()
		waitDefaultSA(t, node, c.namespace)
	}
	// One unmeasured pod of each: the first container of an image pays
	// for unpacking it, and the first admission for the webhooks' warm-up.
	for _, c := range contenders {
		setConflist(t, node, plainConf, meshedConf, c.inChain)
		validation = setValidation(t, node, validation, c)
		bt := runBatch(t, node, c.podBatch(), "warm", 1)
		c.containers = c.check(t, node, bt.names)
		deleteBatch(t, node, c.namespace)
	}
	for round := 0; round < r.rounds; round++ {
		for i := range contenders {
			t.checkInterrupt()
			c := contenders[(round+i)%len(contenders)]
			setConflist(t, node, plainConf, meshedConf, c.inChain)
			validation = setValidation(t, node, validation, c)
			tag := fmt.Sprintf("r%d", round)
			bt := runBatch(t, node, c.podBatch(), tag, pods)
			c.check(t, node, bt.names)
			c.record(bt)
			prefix := fmt.Sprintf("%s-%s-", c.prefix, tag)
			switch c {
			case r.meshCNI, r.noValidation:
				r.configured += countEvents(t, node, c.namespace, cni.ReasonConfigured, prefix)
			case r.osmInit:
				for _, reason := range []string{cni.ReasonConfigured, cni.ReasonFailed, cni.ReasonSkipped} {
					r.onOSMInit += countEvents(t, node, c.namespace, reason, prefix)
				}
			}
			deleteBatch(t, node, c.namespace)
		}
	}
	// The timelines explain; the figures above are the measurement: a log
	// that cannot be read costs the report its table, not the run.
	if events, err := readPodEvents(cluster.LogPath("containerd"), slices.Concat(r.osmInit.measured, r.meshCNI.measured)); err != nil {
		t.Logf("no init containers' timelines in the report: %v", err)
	} else {
		if r.osmInitSteps, err = initTimelineOf(events, r.osmInit.measured, "osm-init"); err != nil {
			t.Logf("no timeline of osm-init in the report: %v", err)
		}
		if r.validationSteps, err = initTimelineOf(events, r.meshCNI.measured, validate.ContainerName); err != nil {
			t.Logf("no timeline of the validation container in the report: %v", err)
		}
	}
	t.Logf("pod start medians with OSM's injector: plain %s, osm-init %s, mesh-cni %s, mesh-cni without validation %s, floor %s",
		ms(summarize(r.plain.ready.d).med), ms(summarize(r.osmInit.ready.d).med), ms(summarize(r.meshCNI.ready.d).med),
		ms(summarize(r.noValidation.ready.d).med), ms(summarize(r.floor.ready.d).med))
	return r
}

// setValidation sets the webhook's --validation to c's, rolling its
// Deployment out, unless c has none or it is what it is (now); it returns
// the setting now. Each batch's pods are checked afterwards (the shapes),
// so a pod admitted by a replica of the other setting would end the phase.
func setValidation(t *phase, node *cluster.Node, now string, c *osmContender) string {
	if c.validation == "" || c.validation == now {
		return now
	}
	start := time.Now()
	node.Kubectl(t, "set", "env", "-n", "mesh-cni", "deployment/"+osmhost.MeshCNIWebhook, "MESH_CNI_WEBHOOK_VALIDATION="+c.validation)
	must(t, "rolling out mesh-cni's webhook", osmhost.WaitMeshCNIWebhook(node.KubectlStdin, 180*time.Second))
	t.Logf("mesh-cni's webhook rolled out with --validation=%s in %s", c.validation, time.Since(start).Round(time.Millisecond))
	warmAfterRoll(t, node, c)
	return c.validation
}

// warmAfterRoll admits unmeasured pods of c until one is what c says: just
// after a roll, the API server may still send a webhook call to a replica
// that is gone, which times out, and the webhook fails open.
func warmAfterRoll(t *phase, node *cluster.Node, c *osmContender) {
	for try := 1; ; try++ {
		bt := runBatch(t, node, c.podBatch(), fmt.Sprintf("rolled%d", try), 1)
		p, err := podcheck.GetPod(node.KubectlStdin, c.namespace, bt.names[0])
		must(t, "reading the warm-up pod", err)
		deleteBatch(t, node, c.namespace)
		why := c.shape(p)
		if why == "" {
			return
		}
		if try == 5 {
			t.Fatalf("%s: 5 pods after the webhook's roll were not what they should be; the last: %s", c.label, why)
		}
		t.Logf("%s: a pod after the webhook's roll: %s; again", c.label, why)
		time.Sleep(2 * time.Second)
	}
}

func (c *osmContender) setSeriesNames() {
	c.ready.name = "pod start, " + c.label
	c.batch.name = "batch, " + c.label
	c.seen.name = "admitted and stored, " + c.label
	c.node.name = "stored to Ready, " + c.label
	c.apply.name = "kubectl apply, " + c.label
}

// podBatch is the contender's pods: the application as its author writes
// it, the same in every namespace.
func (c *osmContender) podBatch() podBatch {
	return podBatch{c.namespace, c.prefix, func(name string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {app: bench}
spec:
  terminationGracePeriodSeconds: 0
  enableServiceLinks: false
  automountServiceAccountToken: false
  containers:
  - {name: app, image: %s, imagePullPolicy: Never, command: ["/meshapp", "serve", "8080"]}
`, name, c.namespace, images.App)
	}}
}

func (c *osmContender) record(bt batchTimes) {
	c.measured = append(c.measured, bt.names...)
	c.ready.d = append(c.ready.d, bt.ready...)
	c.seen.d = append(c.seen.d, bt.seen...)
	for i := range bt.ready {
		c.node.d = append(c.node.d, bt.ready[i]-bt.seen[i])
	}
	c.batch.d = append(c.batch.d, bt.last)
	c.apply.d = append(c.apply.d, bt.apply)
}

func plainShape(p podcheck.Pod) string {
	if p.ContainerList() != "app" || p.Metadata.Labels["osm-proxy-uuid"] != "" {
		return "a plain pod was changed at admission: " + p.ContainerList()
	}
	return ""
}

func osmInitShape(p podcheck.Pod) string {
	switch {
	case p.Metadata.Labels["osm-proxy-uuid"] == "" || !p.HasContainer("envoy"):
		return "OSM's injector did not inject it"
	case !p.HasInit("osm-init") || p.Metadata.Annotations[webhook.CommandAnnotation] != "":
		return "mesh-cni's webhook changed it"
	}
	return ""
}

// meshCNIShape is the shape of mesh-cni's contender, with or without the
// validation container first.
func meshCNIShape(validation bool) func(p podcheck.Pod) string {
	return func(p podcheck.Pod) string {
		first := len(p.Spec.InitContainers) > 0 && p.Spec.InitContainers[0].Name == validate.ContainerName
		switch {
		case p.Metadata.Labels["osm-proxy-uuid"] == "" || !p.HasContainer("envoy"):
			return "OSM's injector did not inject it"
		case p.HasInit("osm-init") || !strings.Contains(p.Metadata.Annotations[webhook.CommandAnnotation], "iptables-restore"):
			return "mesh-cni's webhook did not take osm-init out and record its script"
		case validation && !first:
			return "mesh-cni's webhook did not put its validation container first"
		case !validation && p.HasInit(validate.ContainerName):
			return "mesh-cni's webhook added its validation container with --validation=false"
		}
		return ""
	}
}

// check ends the phase unless every pod named is what the contender
// claims, and returns their containers (the same for all).
func (c *osmContender) check(t *phase, node *cluster.Node, names []string) string {
	var list struct{ Items []podcheck.Pod }
	must(t, "decoding the pods", json.Unmarshal([]byte(node.Kubectl(t, "get", "pods", "-n", c.namespace, "-o", "json")), &list))
	containers := ""
	seen := 0
	for _, p := range list.Items {
		if !slices.Contains(names, p.Metadata.Name) {
			continue
		}
		seen++
		if why := c.shape(p); why != "" {
			t.Fatalf("%s: pod %s/%s (%s): %s", c.label, c.namespace, p.Metadata.Name, p.ContainerList(), why)
		}
		if containers != "" && containers != p.ContainerList() {
			t.Fatalf("%s: pods differ: %s and %s", c.label, containers, p.ContainerList())
		}
		containers = p.ContainerList()
	}
	if seen != len(names) {
		t.Fatalf("%s: %d of the batch's %d pods listed", c.label, seen, len(names))
	}
	return containers
}
