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
		"(no default route), then either mesh-cni or, after the same chain without mesh-cni, the seed's osm-init command chain "+
		"`sh -c \"iptables -t nat -N PROXY_INBOUND && ...\"` (%d iptables processes) in that netns: the work osm-init does, "+
		"without starting its container. mesh-cni makes no API request and opens no TLS connection itself: it asks the node "+
		"agent over a unix socket for the pod, the MeshConfig and the osm-config ConfigMap, installs the rules, and hands the "+
		"agent an Event, which the agent writes to the API after answering. In production the agent runs in the DaemonSet; "+
		"here it runs in the benchmark's own process (test/agentrun: the agent's real server on a real socket) with "+
		"deploy/'s ServiceAccount and RBAC against a kube-apiserver on loopback, and the pods are bound to its node, as "+
		"the pods a plugin sees on a real node are. "+
		"Afterwards every netns is checked to hold exactly the default rule set (osm-v0, IPv4) in the backend measured, "+
		"and nothing of ours in the other. One unmeasured run of each comes first.\n\n", strings.Count(r.renderedOSMInit(), "iptables "))
	for _, a := range r.add {
		p("### %s\n\n", backendOf(a.backend))
		rows := []series{a.mesh, a.osmInit, a.meshChain, a.osmChain, a.meshCPU, a.osmCPU}
		if r.baseline != nil {
			rows = append(rows[:1], append([]series{a.base}, rows[1:]...)...)
		}
		table(sb, rows...)
		mesh, osm := summarize(a.mesh.d).med, summarize(a.osmInit.d).med
		p("osm-init chain / mesh-cni (medians): **%s** in wall time, %s in CPU time. Whole sandbox set-up, osm-init way / mesh-cni way: %s.",
			ratio(osm, mesh), ratio(summarize(a.osmCPU.d).med, summarize(a.meshCPU.d).med),
			ratio(summarize(a.osmChain.d).med, summarize(a.meshChain.d).med))
		var parts []string
		for _, k := range phaseKeys {
			parts = append(parts, fmt.Sprintf("%s %s", phaseLabel[k], ms(summarize(a.phases[k]).med)))
		}
		p(" Inside mesh-cni's ADD (medians of its own log line): %s; the rest is the process start and the CNI protocol.",
			strings.Join(parts, ", "))
		p(" Rules of the %d measured ADDs: %s (in a new pod's namespace on an nf_tables node mesh-cni writes "+
			"them over netlink once it has found, here in the unmeasured first ADD, that its writer and the node's "+
			"iptables-nft-restore leave the same kernel objects).", len(a.mesh.d), writerList(a.writers))
		if r.baseline != nil {
			p(" The baseline's: %s.", writerList(a.baseWriters))
		}
		adds := len(a.mesh.d)
		p(" While the %d measured meshed ADDs ran, the kube-apiserver counted %s (completed requests for pods, MeshConfigs, "+
			"ConfigMaps and Events), and the agent held these watches open: %s. So %s.\n\n",
			adds, a.api, watchList(a.api.agentWatches), a.api.readsSentence(adds, "pods", "meshconfigs", "configmaps"))
	}
}

// phaseKeys are the *_ms fields of mesh-cni's ADD log line, in order.
var phaseKeys = []string{"agent_ms", "apply_ms", "event_ms"}

var phaseLabel = map[string]string{"agent_ms": "agent reads", "apply_ms": "rules apply", "event_ms": "Event (queued at the agent)"}

// writerList says how many ADDs each writer wrote, e.g. "30 written over
// netlink".
func writerList(w map[string]int) string {
	var parts []string
	for _, k := range []string{"netlink", "iptables-restore"} {
		if w[k] > 0 {
			label := "written over netlink"
			if k != "netlink" {
				label = "written by iptables-restore"
			}
			parts = append(parts, fmt.Sprintf("%d %s", w[k], label))
		}
	}
	if len(parts) == 0 {
		return "by a writer the log line does not name"
	}
	return strings.Join(parts, ", ")
}

func writeSkip(sb *strings.Builder, r *results) {
	s := r.skip
	if s == nil {
		return
	}
	fmt.Fprintf(sb, "## 2. The skip path\n\n"+
		"mesh-cni's exec within the chain's ADD through libcni, for a pod it leaves alone: one in an excluded namespace "+
		"(kube-system; decided from CNI_ARGS, no request at all, not even to the agent) and one without a sidecar container "+
		"(one request to the node agent, for the pod, bound to the agent's node as in section 1). "+
		"Each netns is checked to hold no rule of ours afterwards. `mesh-cni` with CNI_COMMAND=VERSION is the cost of "+
		"starting the plugin's Go binary at all; the exec of `/bin/true` is this machine's floor for starting any program.\n\n")
	rows := []series{s.excluded, s.noSidecar, s.version, s.emptyGo, s.floor}
	if r.baseline != nil {
		rows = append([]series{s.excluded, s.baseExcluded, s.noSidecar, s.baseNoSidecar}, rows[2:]...)
	}
	table(sb, rows...)
	fmt.Fprintf(sb, "While the %d measured skipped ADDs of each kind ran, the kube-apiserver counted %s, and the agent held "+
		"these watches open: %s. So, for the no-sidecar pod, %s.\n\n",
		len(s.noSidecar.d), s.api, watchList(s.api.agentWatches), s.api.readsSentence(len(s.noSidecar.d), "pods"))
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
		"divided by the %d cores, is a floor no schedule could beat on this machine; what the total adds beyond "+
		"it is waiting (I/O, other load on the machine). The node agent's CPU time is not in it: the agent runs inside the "+
		"benchmark's process, whose CPU time cannot be told apart from the harness's, so the real floor is higher.\n", r.machine.cores)
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
		"with the `agentSocket` of a node agent for this node run in the benchmark's process (test/agentrun) with deploy/'s "+
		"ServiceAccount and RBAC; the pods are scheduled to this node, so they are the pods the agent watches. The installer "+
		"DaemonSet is not used, so its own start-up and its agent's are not in the figures. "+
		"Pods are shaped like OSM's: the `osm-proxy-uuid` label, containers `app` and `envoy` "+
		"(uid 1500) from a meshapp image. Batches of %d pods are created with one `kubectl apply`; each pod's time is from "+
		"the start of `kubectl apply` to the pod's Ready=True seen on a watch. The two variants take turns, %d batches each:\n\n"+
		"- **mesh-cni**: mesh-cni last in the chain; no init container.\n"+
		"- **osm-init container**: mesh-cni taken out of the conflist; an init container `osm-init` (capability NET_ADMIN) "+
		"running the osm-init command chain with iptables-nft, from an image of busybox's sh and the host's iptables.\n\n",
		ps.pods, ps.rounds)
	table(sb, ps.meshed, ps.osmInit, ps.meshedBatch, ps.osmInitBatch)
	mesh, osm := summarize(ps.meshed.d).med, summarize(ps.osmInit.d).med
	p("Saving per pod (difference of the medians): **%s** (%s of the osm-init variant's median). "+
		"mesh-cni's RedirectionConfigured event, written by the agent after answering, was on %d of the %d measured meshed "+
		"pods once their batch was Ready.\n\n",
		ms(osm-mesh), percent(osm-mesh, osm), ps.events, len(ps.meshed.d))
}

func writeFootprint(sb *strings.Builder, r *results) {
	p := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	p("## 6. Footprint\n\n| | |\n|---|---|\n")
	p("| mesh-cni binary (static, `-trimpath -s -w`, as the Makefile builds it) | %s |\n", mib(r.binarySize))
	var rss []int64
	for _, a := range r.add {
		rss = append(rss, a.rss...)
	}
	if len(rss) > 0 {
		p("| peak RSS of one meshed ADD (the largest of mesh-cni and the iptables programs it ran; median / max of %d) | %s / %s |\n", len(rss), mib(medianInt(rss)), mib(slices.Max(rss)))
	}
	for _, a := range r.add {
		adds := len(a.mesh.d)
		p("| kube-apiserver requests per meshed ADD, %s (reads of pods / MeshConfigs / ConfigMaps; Event writes, done by the agent after answering; %d ADDs) | %s / %s / %s; %s |\n",
			a.backend, adds, perADD(a.api.reads("pods"), adds), perADD(a.api.reads("meshconfigs"), adds),
			perADD(a.api.reads("configmaps"), adds), perADD(a.api.writes("events"), adds))
	}
	if s := r.skip; s != nil {
		p("| kube-apiserver reads of pods per skipped no-sidecar ADD (%d ADDs) | %s |\n", len(s.noSidecar.d), perADD(s.api.reads("pods"), len(s.noSidecar.d)))
	}
	if in := r.installer; in != nil {
		p("| installer with the node agent, RSS idle %s after Ready, %d pods bound to its node (VmRSS; peak VmHWM) | %s (peak %s) |\n",
			in.idleFor, in.nodePods, mib(in.rss), mib(in.hwm))
		p("| installer: exec to Ready (the agent answering on its socket included) | %s |\n", ms(in.readyIn))
	}
	p("\n")
	if len(r.add) > 0 || r.skip != nil {
		p("The API rows are the kube-apiserver's own counts (apiserver_request_total) over the measured runs of sections 1 and 2: " +
			"the node agent's cost to the API server. Its CPU time is not given: in these measurements the agent runs inside the " +
			"benchmark's process, whose CPU time cannot be told apart from the harness's.")
	}
	if in := r.installer; in != nil {
		p(" The installer, which in production runs the node agent, ran as node `%s` against a node laid out in a temporary "+
			"directory (a bridge conflist; the mesh-cni ServiceAccount's token and the CA); it copied the plugin, started the agent "+
			"on its socket, added its entry and then only watched. API watches it held open at the end, by the kube-apiserver's "+
			"count: %s.", benchNode, watchList(in.watches))
	}
	p("\n\n")
}

func percent(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
}
