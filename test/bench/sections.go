package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func writeAdd(sb *strings.Builder, r *results) {
	if len(r.add) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	p("## 1. ADD latency of a meshed pod\n\n")
	p("Each run makes a fresh network namespace and runs, through libcni as containerd does, the chain bridge + host-local "+
		"(no default route), then either mesh-cni (which GETs the pod, looks for a MeshConfig and the osm-config ConfigMap "+
		"on a kube-apiserver on loopback, installs the rules, reads them back and records an Event) or, after the same chain "+
		"without mesh-cni, the seed's osm-init command chain `sh -c \"iptables -t nat -N PROXY_INBOUND && ...\"` "+
		"(%d iptables processes) in that netns: the work osm-init does, without starting its container. "+
		"Afterwards every netns is checked to hold exactly the default rule set (osm-v0, IPv4) in the backend measured, "+
		"and nothing of ours in the other. One unmeasured run of each comes first.\n\n", strings.Count(r.renderedOSMInit(), "iptables "))
	for _, a := range r.add {
		p("### %s\n\n", backendOf(a.backend))
		table(sb, a.mesh, a.osmInit, a.meshChain, a.osmChain, a.meshCPU, a.osmCPU)
		mesh, osm := summarize(a.mesh.d).med, summarize(a.osmInit.d).med
		p("osm-init chain / mesh-cni (medians): **%s** in wall time, %s in CPU time. Whole sandbox set-up, osm-init way / mesh-cni way: %s.",
			ratio(osm, mesh), ratio(summarize(a.osmCPU.d).med, summarize(a.meshCPU.d).med),
			ratio(summarize(a.osmChain.d).med, summarize(a.meshChain.d).med))
		var parts []string
		for _, k := range []string{"api_ms", "apply_ms", "event_ms"} {
			parts = append(parts, fmt.Sprintf("%s %s", phaseLabel[k], ms(summarize(a.phases[k]).med)))
		}
		p(" Inside mesh-cni's ADD (medians of its own log line): %s; the rest is the process start and the CNI protocol.\n\n",
			strings.Join(parts, ", "))
	}
}

var phaseLabel = map[string]string{"api_ms": "API reads", "apply_ms": "iptables apply and read-back", "event_ms": "Event"}

func writeSkip(sb *strings.Builder, r *results) {
	s := r.skip
	if s == nil {
		return
	}
	fmt.Fprintf(sb, "## 2. The skip path\n\n"+
		"mesh-cni's exec within the chain's ADD through libcni, for a pod it leaves alone: one in an excluded namespace "+
		"(kube-system; decided from CNI_ARGS, no API call) and one without a sidecar container (one GET of the pod). "+
		"Each netns is checked to hold no rule of ours afterwards. `mesh-cni` with CNI_COMMAND=VERSION is the cost of "+
		"starting the plugin's Go binary at all; the exec of `/bin/true` is this machine's floor for starting any program.\n\n")
	table(sb, s.excluded, s.noSidecar, s.version, s.emptyGo, s.floor)
}

func writeConcurrency(sb *strings.Builder, r *results) {
	if len(r.concurrency) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	p("## 3. %d ADDs at once, the host's xtables lock held\n\n", r.concurrency[0].n)
	p("Another process (`flock /run/xtables.lock sleep`, as kube-proxy holds it while it syncs) holds the host's xtables "+
		"lock from before the first ADD until after the last, checked with a non-blocking flock at both ends. "+
		"The ADDs are released together on %d cores. \"mesh-cni ADD alone\": the %d netns were set up by bridge + host-local "+
		"beforehand and mesh-cni's ADD is the call libcni makes last (prevResult attached); \"whole chain\": %d chains "+
		"bridge + host-local + mesh-cni through libcni at once, as a node starting %d pods does. Afterwards every netns is "+
		"checked to hold exactly the expected rules. Total is from the release to the last ADD's end; each ADD is timed by its caller.\n\n",
		r.machine.cores, r.concurrency[0].n, r.concurrency[0].n, r.concurrency[0].n)
	p("| backend | ADDs | right | host lock held throughout | total | median ADD | p95 ADD | slowest ADD | slowest mesh-cni exec | CPU time of all ADDs | CPU time of kube-apiserver + etcd meanwhile |\n")
	p("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.concurrency {
		e := summarize(c.each)
		p("| %s | %s | %d/%d | %t | %s | %s | %s | %s | %s | %s | %s |\n", c.backend, c.what, c.ok, c.n, c.lockHeld, ms(c.wall),
			ms(e.med), ms(e.p95), ms(e.maxVal), ms(summarize(c.meshEach).maxVal), ms(c.cpu), ms(c.apiCPU))
	}
	p("\nThe CPU time of all ADDs (plugins and the iptables programs they ran) plus the API server's and etcd's, "+
		"divided by the %d cores, is the least total any schedule could reach on this machine; what the total adds beyond "+
		"it is waiting (I/O, other load on the machine).\n", r.machine.cores)
	lockErrs := 0
	for _, c := range r.concurrency {
		lockErrs += c.lockErrs
	}
	p("\nEvery ADD ended while the host lock was still held, so none waited for it (one that did would have waited "+
		"until the holder was killed, after the last ADD), and %d failures mention the xtables lock (one that gave up on it "+
		"would say \"Another app is currently holding the xtables lock\"). mesh-cni's iptables-legacy runs take a lock "+
		"file per pod netns instead (`XTABLES_LOCKFILE`); iptables-nft takes none.\n\n", lockErrs)
	for _, c := range r.concurrency {
		if len(c.errs) > 0 {
			p("Failures (%s, %s): %d, of which %d returned CNI error 11 (try again later), which kubelet retries "+
				"(the pod is not started without its rules). First: `%s`\n\n", c.backend, c.what, len(c.errs), c.retriable, c.errs[0])
		}
	}
}

func writePodStart(sb *strings.Builder, r *results) {
	ps := r.podStart
	if ps == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	p("## 4. Pod start-up on a real node\n\n")
	p("A single-node Kubernetes on this machine (test/cluster: kube-apiserver, etcd, controller-manager, scheduler, "+
		"containerd, kubelet, kube-proxy; bridge + host-local + portmap as the primary CNI; images built locally, nothing "+
		"pulled). mesh-cni is installed directly: its binary in /opt/cni/bin and its entry appended to the node's conflist, "+
		"with a kubeconfig of deploy/'s ServiceAccount and RBAC (the installer DaemonSet is not used, so its own start-up "+
		"is not in the figures). Pods are shaped like OSM's: the `osm-proxy-uuid` label, containers `app` and `envoy` "+
		"(uid 1500) from a meshapp image. Batches of %d pods are created with one `kubectl apply`; each pod's time is from "+
		"the start of `kubectl apply` to the pod's Ready=True seen on a watch. The two variants take turns, %d batches each:\n\n"+
		"- **mesh-cni**: mesh-cni last in the chain; no init container.\n"+
		"- **osm-init container**: mesh-cni taken out of the conflist; an init container `osm-init` (capability NET_ADMIN) "+
		"running the osm-init command chain with iptables-nft, from an image of busybox's sh and the host's iptables.\n\n",
		ps.pods, ps.rounds)
	table(sb, ps.meshed, ps.osmInit, ps.meshedBatch, ps.osmInitBatch)
	mesh, osm := summarize(ps.meshed.d).med, summarize(ps.osmInit.d).med
	p("Saving per pod (difference of the medians): **%s** (%s of the osm-init variant's median). "+
		"mesh-cni recorded its RedirectionConfigured event on %d of the %d measured meshed pods.\n\n",
		ms(osm-mesh), percent(osm-mesh, osm), ps.events, len(ps.meshed.d))
}

func writeFootprint(sb *strings.Builder, r *results) {
	p := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	p("## 5. Footprint\n\n| | |\n|---|---|\n")
	p("| mesh-cni binary (static, `-trimpath -s -w`, as the Makefile builds it) | %s |\n", mib(r.binarySize))
	var rss []int64
	for _, a := range r.add {
		rss = append(rss, a.rss...)
	}
	if len(rss) > 0 {
		p("| peak RSS of one meshed ADD (the largest of mesh-cni and the iptables programs it ran; median / max of %d) | %s / %s |\n", len(rss), mib(medianInt(rss)), mib(slices.Max(rss)))
	}
	if in := r.installer; in != nil {
		p("| installer RSS, idle %s after Ready (VmRSS; peak VmHWM) | %s (peak %s) |\n", in.idleFor, mib(in.rss), mib(in.hwm))
		p("| installer: exec to Ready | %s |\n", ms(in.readyIn))
	}
	p("\nThe installer ran against a node laid out in a temporary directory (a bridge conflist, a service-account token); " +
		"it copied the plugin, added its entry, wrote the kubeconfig and then only watched.\n\n")
}

func percent(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
}
