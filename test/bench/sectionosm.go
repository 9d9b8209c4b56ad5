package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/cni"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
)

// abovePlain is how far mesh-cni's median pod start is above plain pods',
// as a fraction (0.05 is 5% slower).
func (o *osmStartResult) abovePlain() float64 {
	return medianAbove(o.meshCNI, o.plain)
}

// medianAbove is how far c's median pod start is above base's, as a
// fraction.
func medianAbove(c, base *osmContender) float64 {
	b := summarize(base.ready.d).med
	if b == 0 {
		return 0
	}
	return float64(summarize(c.ready.d).med-b) / float64(b)
}

func writePodStartOSM(sb *strings.Builder, r *results) {
	o := r.podStartOSM
	if o == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	n := len(o.meshCNI.ready.d)
	p("## 5. Pod start-up with OSM's injector: plain pods, osm-init, mesh-cni\n\n")
	p("A single-node Kubernetes on this machine, test/cluster's as in section 4, brought up afresh for this measurement, with "+
		"mesh-cni's plugin installed as there (its binary in /opt/cni/bin, its entry appended to the conflist, a node agent for "+
		"the node in the benchmark's process with deploy/'s ServiceAccount and RBAC). OSM v1.2.4's real `osm-injector` (built by test/tools/build.sh "+
		"from the Go module proxy) runs as a host process against the node, with OSM's CRDs and a MeshConfig naming the "+
		"benchmark's images: the sidecar is meshapp run as `envoy`, and `initContainerImage` is the image of busybox's sh and "+
		"the host's iptables-restore (nft backend), in which OSM's osm-init runs its own `iptables-restore --noflush` script. "+
		"mesh-cni's webhook is deploy/'s as it is (its Deployment of two replicas, Service, RBAC and MutatingWebhookConfiguration, "+
		"from the image cmd/mkimage builds), with one term added to its namespaceSelector: a namespace labelled `%s` is left to "+
		"OSM alone. The same application pod (one container, `app`, as its author writes it) is created in batches of %d with "+
		"one `kubectl apply`, into %d namespaces taking turns, %d batches each; a pod's time is from the start of "+
		"`kubectl apply` to its Ready=True seen on a watch:\n\n", withoutMeshCNILabel, o.pods, len(o.contenders()), o.rounds)
	p("- **%s**: a namespace OSM does not monitor, and mesh-cni taken out of the conflist: no mesh at all. Containers: `%s`.\n",
		o.plain.label, o.plain.containers)
	p("- **%s**: a namespace OSM monitors and injects and mesh-cni's webhook is not called for; OSM's `osm-init` "+
		"(NET_ADMIN, uid 0) runs OSM's script. mesh-cni is in the chain and steps aside (a pod with osm-init is out of its "+
		"scope: it installs nothing and writes no event): mesh-cni's events (%s, %s, %s) were on %d of the %d measured pods. "+
		"Containers: `%s`.\n", o.osmInit.label, cni.ReasonConfigured, cni.ReasonFailed, cni.ReasonSkipped, o.onOSMInit,
		len(o.osmInit.ready.d), o.osmInit.containers)
	p("- **%s**: a namespace both webhooks are called for: mesh-cni's takes `osm-init` out and records its script "+
		"(annotation `%s`), which the plugin installs at the sandbox's ADD: its RedirectionConfigured event was on %d of the "+
		"%d measured pods of it and the next once their batch was Ready. Its validation container `%s` comes first. Containers: `%s`.\n",
		o.meshCNI.label, webhook.CommandAnnotation, o.configured, n+len(o.noValidation.ready.d), validate.ContainerName, o.meshCNI.containers)
	p("- **%s**: the same, with the webhook's `--validation=false` (`MESH_CNI_WEBHOOK_VALIDATION` on its Deployment, "+
		"rolled out before each of its batches and back after, each roll followed by unmeasured pods until one was admitted as it "+
		"should be): no validation container. Containers: `%s`.\n",
		o.noValidation.label, o.noValidation.containers)
	p("- **%s**: the same pods again, with mesh-cni taken out of the conflist: OSM's injector and sidecar, osm-init taken "+
		"out and nothing installing rules in its place. These pods are unprotected; they are the floor no way of installing "+
		"the rules without NET_ADMIN can beat with OSM's injector, but by the chance of a run (a contender's median within a few "+
		"percent of it, either way, is the floor's own), so the distance from it is mesh-cni's own. Containers: `%s`.\n\n",
		o.floor.label, o.floor.containers)
	p("Every admitted pod of every batch was checked to be what its contender says: plain pods unchanged, osm-init's injected " +
		"with osm-init and no record, mesh-cni's injected without osm-init and with the record, its validation container first " +
		"or, validation off, none. One unmeasured pod of each came first.\n\n")
	var rows []series
	for _, c := range o.contenders() {
		rows = append(rows, c.ready)
	}
	for _, c := range o.contenders() {
		rows = append(rows, c.batch)
	}
	table(sb, rows...)
	plain, osm, mesh := summarize(o.plain.ready.d).med, summarize(o.osmInit.ready.d).med, summarize(o.meshCNI.ready.d).med
	p("mesh-cni + webhook against plain pods (medians): **%+.1f%%** (%s against %s; target: at most +5%%, %s). "+
		"Against OSM's osm-init: %s per pod saved (%s of osm-init's median; osm-init / mesh-cni %s). "+
		"OSM's osm-init against plain pods: %+.1f%%.\n\n",
		100*o.abovePlain(), ms(mesh), ms(plain), verdictWord(o.abovePlain() <= targetOSMStart),
		ms(osm-mesh), percent(osm-mesh, osm), ratio(osm, mesh), 100*float64(osm-plain)/float64(max(plain, 1)))
	with, without := summarize(o.meshCNI.ready.d).med, summarize(o.noValidation.ready.d).med
	p("The validation container's cost (medians, the same run, taking turns): %s a pod to Ready, %s with it against %s "+
		"without (%+.1f%%); the node's part, stored to Ready, with it against without: %s.\n\n", signedMS(with-without), ms(with),
		ms(without), 100*float64(with-without)/float64(max(without, 1)), relative(o.meshCNI.node, o.noValidation.node))
	writeInitSteps(sb, o)
	p("Against the floor (%s): mesh-cni + webhook %s; validation off %s, which is the plugin's ADD in the sandbox's chain "+
		"(the record and the webhook's admission are the same in both). The floor against plain pods: %s, which is OSM's own "+
		"part (its injector's admission and the sidecar container).\n\n", o.floor.label, relative(o.meshCNI.ready, o.floor.ready),
		relative(o.noValidation.ready, o.floor.ready), relative(o.floor.ready, o.plain.ready))
	p("Where the time went (medians). \"Stored\" is a pod's first event on the watch: admitted (OSM's injector and, for the " +
		"last contender, mesh-cni's webhook called) and written to etcd; `kubectl apply` creates a batch's pods one after another, " +
		"so a pod's time to stored includes the admission of the pods before it. \"Stored to Ready\" is the node's part: " +
		"scheduling, the sandbox and its CNI chain, the init container if any, the containers.\n\n")
	p("| | containers | kubectl apply (per batch) | apply to stored | stored to Ready | apply to Ready |\n|---|---|---:|---:|---:|---:|\n")
	for _, c := range o.contenders() {
		p("| %s | %s | %s | %s | %s | %s |\n", c.label, c.containers, ms(summarize(c.apply.d).med), ms(summarize(c.seen.d).med),
			ms(summarize(c.node.d).med), ms(summarize(c.ready.d).med))
	}
	p("\nSo, per pod, admission by OSM's injector costs about %s (kubectl apply's median run for osm-init's batches, which "+
		"OSM's injector alone admits, less plain pods', over %d pods), and mesh-cni's webhook %s (mesh-cni's batches "+
		"against osm-init's). The node's part, stored to Ready, of mesh-cni's pods against plain pods': %s; of "+
		"osm-init's: %s.\n\n", ms(o.admissionCost(o.plain, o.osmInit)), o.pods, signedMS(o.admissionCost(o.osmInit, o.meshCNI)),
		relative(o.meshCNI.node, o.plain.node), relative(o.osmInit.node, o.plain.node))
}

// contenders are o's contenders in the report's order, which is also the
// order of the turns: floor follows noValidation, so that the webhook
// rolls only twice a round (to validation off and back).
func (o *osmStartResult) contenders() []*osmContender {
	return []*osmContender{o.plain, o.osmInit, o.meshCNI, o.noValidation, o.floor}
}

// admissionCost is how much longer, per pod, kubectl apply ran for to's
// batches than for from's (medians).
func (o *osmStartResult) admissionCost(from, to *osmContender) time.Duration {
	return (summarize(to.apply.d).med - summarize(from.apply.d).med) / time.Duration(max(o.pods, 1))
}

// signedMS is d with its sign, "+15.00 ms" or "-3.10 ms".
func signedMS(d time.Duration) string {
	if d < 0 {
		return "-" + ms(-d)
	}
	return "+" + ms(d)
}

// relative is a's median against b's, as "+3.1% (2417 ms against 2475 ms)".
func relative(a, b series) string {
	ma, mb := summarize(a.d).med, summarize(b.d).med
	return fmt.Sprintf("%+.1f%% (%s against %s)", 100*float64(ma-mb)/float64(max(mb, 1)), ms(ma), ms(mb))
}

// verdictWord is "met" or "missed".
func verdictWord(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

// osmWhy explains a missed issue 12 target from the run's own figures:
// admission against the node's part, for mesh-cni and plain pods.
func osmWhy(o *osmStartResult) string {
	if o == nil || o.abovePlain() <= targetOSMStart {
		return ""
	}
	diff := summarize(o.meshCNI.ready.d).med - summarize(o.plain.ready.d).med
	return fmt.Sprintf("pod start-up with OSM's injector: mesh-cni's median is %s above plain pods' (%+.1f%%). "+
		"Admission, apply to stored: %s. kubectl apply ran %s a batch against %s for plain pods, which neither webhook "+
		"is called for: OSM's injector adds about %s a pod (osm-init's batches, which only it admits, less plain pods'; per pod it issues the sidecar's "+
		"certificate and writes its bootstrap Secret), mesh-cni's webhook %s a pod (mesh-cni's batches against osm-init's). "+
		"The node's part, stored to Ready: %s; mesh-cni's pod starts %s where the plain pod starts %s, and runs mesh-cni in "+
		"its sandbox's chain (osm-init's pods: %s). The target compares with pods that no webhook is called for, so OSM's own admission is in the gap. "+
		"Against the floor, OSM's pods without osm-init and without rules, which no way of installing them can beat: mesh-cni %s, "+
		"of which the validation container %s; the floor against plain pods %s.",
		ms(diff), 100*o.abovePlain(), relative(o.meshCNI.seen, o.plain.seen), ms(summarize(o.meshCNI.apply.d).med),
		ms(summarize(o.plain.apply.d).med), ms(o.admissionCost(o.plain, o.osmInit)), signedMS(o.admissionCost(o.osmInit, o.meshCNI)),
		relative(o.meshCNI.node, o.plain.node), quoteContainers(o.meshCNI.containers), quoteContainers(o.plain.containers),
		relative(o.osmInit.node, o.plain.node), relative(o.meshCNI.ready, o.floor.ready),
		relative(o.meshCNI.ready, o.noValidation.ready), relative(o.floor.ready, o.plain.ready))
}

// quoteContainers is "containers app, envoy" for prose.
func quoteContainers(list string) string {
	return "containers `" + list + "`"
}
