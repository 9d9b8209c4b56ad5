package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// agentResources are the API resources mesh-cni's node agent reads
// (pods, MeshConfigs, ConfigMaps) and writes (Events): the ones whose
// traffic the page reports.
var agentResources = []string{"pods", "meshconfigs", "configmaps", "events"}

// apiCounters is what the kube-apiserver's /metrics says at one moment
// about agentResources: requests completed so far by "VERB resource"
// (apiserver_request_total, every response code), and the watches open
// now by resource (apiserver_longrunning_requests).
type apiCounters struct {
	requests map[string]int
	watches  map[string]int
}

// apiWindow is the API traffic of one stretch of a measurement: what the
// page states about where the agent's answers came from rests on it, not
// on what the agent is meant to do.
type apiWindow struct {
	// requests completed in the stretch, by "VERB resource". A watch is
	// counted when it ends, so one open throughout is not among them.
	requests map[string]int
	// agentWatches are the watches open at its end beyond those open
	// before the agent started, by resource: the kube-apiserver's own
	// informers watch through its loopback client and are counted too.
	agentWatches map[string]int
}

// metricLine is one sample of the Prometheus text format: name, labels
// and value.
var metricLine = regexp.MustCompile(`^(\w+)\{(.*)\} (\S+)$`)

// metricLabel is one label="value" pair inside the braces.
var metricLabel = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// apiSnapshot reads the counters, as cluster-admin.
func (k *kernelEnv) apiSnapshot(t *phase) apiCounters {
	out := k.cp.Kubectl(t, "get", "--raw", "/metrics")
	c := apiCounters{requests: map[string]int{}, watches: map[string]int{}}
	for _, line := range strings.Split(out, "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || (m[1] != "apiserver_request_total" && m[1] != "apiserver_longrunning_requests") {
			continue
		}
		labels := map[string]string{}
		for _, l := range metricLabel.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		if !slices.Contains(agentResources, labels["resource"]) || labels["subresource"] != "" {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		switch {
		case m[1] == "apiserver_request_total":
			c.requests[labels["verb"]+" "+labels["resource"]] += int(v)
		case labels["verb"] == "WATCH":
			c.watches[labels["resource"]] += int(v)
		}
	}
	return c
}

// settledAPI reads the counters once they have stopped moving: the agent
// records an ADD's Event after answering it, so the last ADD's write can
// come after the ADD has returned, and it belongs to the stretch before.
func (k *kernelEnv) settledAPI(t *phase) apiCounters {
	prev := k.apiSnapshot(t)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		cur := k.apiSnapshot(t)
		if maps.Equal(cur.requests, prev.requests) {
			return cur
		}
		prev = cur
	}
	t.Logf("the kube-apiserver's request counters still moved after 5 s; reading them as they are")
	return prev
}

// apiSince is the traffic from before to now, once the counters have
// settled.
func (k *kernelEnv) apiSince(t *phase, before apiCounters) apiWindow {
	after := k.settledAPI(t)
	return apiWindow{requests: counterDiff(after.requests, before.requests), agentWatches: counterDiff(after.watches, k.baseWatches)}
}

// counterDiff is a-b, leaving out what did not change.
func counterDiff(a, b map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range a {
		if v != b[k] {
			d[k] = v - b[k]
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok && v != 0 {
			d[k] = -v
		}
	}
	return d
}

// reads are the GETs and LISTs of resource in the window.
func (w apiWindow) reads(resource string) int {
	return w.requests["GET "+resource] + w.requests["LIST "+resource]
}

// writes are the requests of resource that change something.
func (w apiWindow) writes(resource string) int {
	n := 0
	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		n += w.requests[verb+" "+resource]
	}
	return n
}

// String lists the requests, e.g. "GET pods 30, POST events 30", or says
// there were none.
func (w apiWindow) String() string {
	if len(w.requests) == 0 {
		return "no request"
	}
	keys := slices.Sorted(maps.Keys(w.requests))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, w.requests[k])
	}
	return strings.Join(parts, ", ")
}

// watchList lists watches by resource, e.g. "pods 1", or says none was
// open.
func watchList(w map[string]int) string {
	var parts []string
	for _, r := range agentResources {
		if w[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, w[r]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// readsSentence says, from the window, where the agent's answers for the
// resources read during adds ADDs came from: live reads that reached the
// kube-apiserver, or none, with the agent's watch of them if it had one.
func (w apiWindow) readsSentence(adds int, resources ...string) string {
	var live, watched, neither []string
	for _, r := range resources {
		switch n := w.reads(r); {
		case n > 0:
			live = append(live, fmt.Sprintf("%s %d", r, n))
		case w.agentWatches[r] > 0:
			watched = append(watched, r)
		default:
			neither = append(neither, r)
		}
	}
	var parts []string
	if len(live) > 0 {
		parts = append(parts, fmt.Sprintf("the agent read from the kube-apiserver, not from a watch, for the %d ADDs: %s",
			adds, strings.Join(live, ", ")))
	}
	if len(watched) > 0 {
		parts = append(parts, fmt.Sprintf("no read of %s reached the kube-apiserver: the agent answered from its watch",
			strings.Join(watched, " or ")))
	}
	if len(neither) > 0 {
		parts = append(parts, fmt.Sprintf("no read of %s reached the kube-apiserver", strings.Join(neither, " or ")))
	}
	return strings.Join(parts, "; ")
}

// perADD is count/adds with one decimal.
func perADD(count, adds int) string {
	if adds == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(count)/float64(adds), 'f', 1, 64)
}
