package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// initTimeline is where an init container's time goes, per pod, from
// containerd's log: kubelet reads the pod's containers again only at its
// next look at the node (the PLEG relist), so the wait from the init
// container's exit to the app's creation is kubelet's, not the container's.
type initTimeline struct {
	// start is the init container's create to started, run its started
	// to exit, wait its exit to the creation of the pod's first container.
	start, run, wait series
}

// containerd's log lines (its CRI plugin, info level) that the timeline is
// read from: a sandbox's id, a container's creation in a sandbox and the
// id it got, a container started, a container's process gone. Only first
// attempts: a container made again would mix two runs' times.
var (
	sandboxLine  = regexp.MustCompile(`RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),.*Attempt:0,\} returns sandbox id \\"(\w+)\\"`)
	creatingLine = regexp.MustCompile(`CreateContainer within sandbox \\"(\w+)\\" for container &ContainerMetadata\{Name:([^,]+),Attempt:0,`)
	createdLine  = regexp.MustCompile(`CreateContainer within sandbox \\"(\w+)\\" for &ContainerMetadata\{Name:([^,]+),Attempt:0,\} returns container id \\"(\w+)\\"`)
	startedLine  = regexp.MustCompile(`StartContainer for \\"(\w+)\\" returns successfully`)
	exitedLine   = regexp.MustCompile(`msg="shim disconnected" id=(\w+)`)
	logTime      = regexp.MustCompile(`^time="([^"]+)"`)
)

// podEvents are the times of one pod's steps, by container name.
type podEvents struct {
	pod                       string
	creating, started, exited map[string]time.Time
}

// firstOther is when the first container other than init was asked for.
func (p *podEvents) firstOther(init string) time.Time {
	var first time.Time
	for name, t := range p.creating {
		if name != init && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}

// readPodEvents reads containerd's log once for the steps of the pods
// named, keyed by sandbox id.
func readPodEvents(path string, pods []string) (map[string]*podEvents, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading containerd's log for the init containers' timeline: %w", err)
	}
	defer f.Close()
	events, err := scanPodEvents(f, pods)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return events, nil
}

// initTimelineOf is the timeline of init in the pods named, from events.
func initTimelineOf(events map[string]*podEvents, pods []string, init string) (*initTimeline, error) {
	tl := &initTimeline{}
	for _, p := range events {
		if !slices.Contains(pods, p.pod) {
			continue
		}
		c, s, e, next := p.creating[init], p.started[init], p.exited[init], p.firstOther(init)
		if c.IsZero() || s.IsZero() || e.IsZero() || next.IsZero() {
			continue
		}
		tl.start.d = append(tl.start.d, s.Sub(c))
		tl.run.d = append(tl.run.d, e.Sub(s))
		tl.wait.d = append(tl.wait.d, next.Sub(e))
	}
	if len(tl.wait.d) == 0 {
		return nil, fmt.Errorf("containerd's log holds no complete timeline of an init container %s in the %d pods %s", init, len(pods), podList(pods))
	}
	return tl, nil
}

// scanPodEvents collects the steps of the pods named from a containerd
// log, keyed by sandbox id.
func scanPodEvents(r io.Reader, names []string) (map[string]*podEvents, error) {
	pods := map[string]*podEvents{} // by sandbox id
	type podContainer struct {
		pod  *podEvents
		name string
	}
	containers := map[string]podContainer{} // by container id
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := logTime.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(line, "returns sandbox id"):
			if m := sandboxLine.FindStringSubmatch(line); m != nil && slices.Contains(names, m[1]) {
				pods[m[2]] = &podEvents{pod: m[1], creating: map[string]time.Time{}, started: map[string]time.Time{}, exited: map[string]time.Time{}}
			}
		case strings.Contains(line, "returns container id"):
			if m := createdLine.FindStringSubmatch(line); m != nil && pods[m[1]] != nil {
				containers[m[3]] = podContainer{pods[m[1]], m[2]}
			}
		case strings.Contains(line, "CreateContainer within sandbox"):
			if m := creatingLine.FindStringSubmatch(line); m != nil && pods[m[1]] != nil {
				pods[m[1]].creating[m[2]] = t
			}
		case strings.Contains(line, "StartContainer for"):
			if m := startedLine.FindStringSubmatch(line); m != nil {
				if c, ok := containers[m[1]]; ok {
					c.pod.started[c.name] = t
				}
			}
		case strings.Contains(line, "shim disconnected"):
			if m := exitedLine.FindStringSubmatch(line); m != nil {
				if c, ok := containers[m[1]]; ok && c.pod.exited[c.name].IsZero() {
					c.pod.exited[c.name] = t
				}
			}
		}
	}
	return pods, sc.Err()
}

// writeInitSteps is the report's table of the two init containers'
// timelines, osm-init's and mesh-cni's validation container's.
func writeInitSteps(sb *strings.Builder, o *osmStartResult) {
	if o.osmInitSteps == nil || o.validationSteps == nil {
		return
	}
	fmt.Fprintf(sb, "Where an init container's time went, from the node's containerd log (medians over the measured pods; "+
		"\"create\" is containerd's CreateContainer request for it, \"gone\" its `shim disconnected`, \"next create\" "+
		"the CreateContainer request for the pod's first other container). kubelet starts a pod's next containers only once "+
		"its PLEG relist, every second, has seen the init container exit, so most of the last column is kubelet's wait:\n\n")
	fmt.Fprintf(sb, "| init container | N | create to started | started to gone | gone to next create |\n|---|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		tl   *initTimeline
	}{{"osm-init (OSM's)", o.osmInitSteps}, {validate.ContainerName + " (mesh-cni's)", o.validationSteps}} {
		fmt.Fprintf(sb, "| %s | %d | %s | %s | %s |\n", row.name, len(row.tl.wait.d), ms(summarize(row.tl.start.d).med),
			ms(summarize(row.tl.run.d).med), ms(summarize(row.tl.wait.d).med))
	}
	fmt.Fprintf(sb, "\n")
}

// podList names the first of pods, and how many more, for an error.
func podList(pods []string) string {
	if len(pods) < 2 {
		return strings.Join(pods, "")
	}
	return fmt.Sprintf("%s and %d more", pods[0], len(pods)-1)
}
