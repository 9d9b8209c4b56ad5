package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// writeWhy explains, from this run's own figures, where the time of each
// missed target went: the parts of mesh-cni's ADD from its log line, the
// CPU time against the wall time, the cost of starting the binary at all,
// and how busy the machine was.
func writeWhy(sb *strings.Builder, r *results) {
	var lines []string
	for _, a := range r.add {
		mesh := summarize(a.mesh.d).med
		osm := summarize(a.osmInit.d).med
		if mesh <= targetAddMedian && float64(osm) >= targetAddRatio*float64(mesh) {
			continue
		}
		agentReads, apply, event := summarize(a.phases["agent_ms"]).med, summarize(a.phases["apply_ms"]).med, summarize(a.phases["event_ms"]).med
		lines = append(lines, fmt.Sprintf("meshed ADD, %s: of the median %s, parsing the config and the agent reads took %s "+
			"(the kube-apiserver counted %d reads of pods for the %d ADDs), the rules apply %s, "+
			"handing the Event to the agent %s and the rest (starting the Go binary, the CNI protocol) about %s. "+
			"mesh-cni used %s of CPU per ADD (median) against %s for the 17-process osm-init chain: a ratio of %s in CPU time "+
			"where the wall-time ratio is %s.",
			a.backend, ms(mesh), ms(agentReads), a.api.reads("pods"), len(a.mesh.d), ms(apply), ms(event), ms(max(mesh-agentReads-apply-event, 0)),
			ms(summarize(a.meshCPU.d).med), ms(summarize(a.osmCPU.d).med), ratio(summarize(a.osmCPU.d).med, summarize(a.meshCPU.d).med),
			ratio(osm, mesh)))
	}
	if s := r.skip; s != nil && (summarize(s.excluded.d).med > targetSkipMedian || summarize(s.noSidecar.d).med > targetSkipMedian) {
		lines = append(lines, fmt.Sprintf("skip path: starting the mesh-cni binary and exiting (VERSION) alone takes %s (median) here, "+
			"an empty Go program %s and any exec (/bin/true) %s; the excluded-namespace path adds only parsing to that (%s in all), "+
			"the no-sidecar path one request to the node agent over its unix socket (%s in all; the kube-apiserver counted "+
			"%d reads of pods for its %d ADDs).",
			ms(summarize(s.version.d).med), ms(summarize(s.emptyGo.d).med), ms(summarize(s.floor.d).med),
			ms(summarize(s.excluded.d).med), ms(summarize(s.noSidecar.d).med), s.api.reads("pods"), len(s.noSidecar.d)))
	}
	for _, c := range r.concurrency {
		if c.ok == c.n && c.wall <= targetConcWall {
			continue
		}
		floor := (c.cpu + c.apiCPU) / time.Duration(max(r.machine.cores, 1))
		l := fmt.Sprintf("%d at once, %s, %s: the ADDs needed %s of CPU in all and kube-apiserver + etcd %s meanwhile, "+
			"so on %d cores no schedule finishes in under %s (the node agent's CPU, not separable here, comes on top); the total was %s.",
			c.n, c.backend, c.what, ms(c.cpu), ms(c.apiCPU), r.machine.cores, ms(floor), ms(c.wall))
		if len(c.errs) > 0 {
			l += fmt.Sprintf(" %d ADDs failed, %d of them with CNI error 11 (try again later, e.g. an agent that did not answer "+
				"within mesh-cni's apiTimeout, %s by default), which kubelet retries.", len(c.errs), c.retriable, settings.DefaultAPITimeout)
		}
		lines = append(lines, l)
	}
	if l := osmWhy(r.podStartOSM); l != "" {
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(sb, "### Why targets were missed, from this run's figures\n\n")
	for _, l := range lines {
		fmt.Fprintf(sb, "- %s\n", l)
	}
	fmt.Fprintf(sb, "- The machine: %d cores, load average %s at the start and %s at the end (other suites' Kubernetes "+
		"nodes and tests may share it); wall times include waiting for the cores, CPU times do not.\n\n",
		r.machine.cores, r.machine.loadavg, r.loadEnd)
}
