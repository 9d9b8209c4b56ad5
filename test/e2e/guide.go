// Package e2e is mesh-cni's end-to-end suite: the DaemonSet from deploy/ on a
// real cluster, pods shaped like OSM-injected ones, real traffic, and every
// command of the troubleshooting guides run and checked. The suite is behind
// the build tag e2e (`go test -tags e2e ./test/e2e/`); this file, the guide
// parser and matcher, is plain Go so its unit tests run with `go test ./...`.
package e2e

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
)

// Step is one command of a guide and the output the guide promises.
type Step struct {
	// Line is the 1-based line of the command in the guide.
	Line int
	// Command is the text after "$ ".
	Command string
	// Expected are the output lines the guide shows; "..." stands for any
	// number of lines.
	Expected []string
	// State is the cluster state the step needs: the value of the last
	// "<!-- e2e-state: NAME -->" comment before it.
	State string
	// Section is the last "## " heading before the step.
	Section string
}

// stateComment marks, invisibly in rendered Markdown, which cluster state the
// commands after it need.
var stateComment = regexp.MustCompile(`^<!--\s*e2e-state:\s*([a-z0-9-]+)\s*-->$`)

// ParseGuide returns the steps of a guide: the commands ("$ " lines) of its
// ```console blocks with the lines after each until the next command. Lines
// starting with "#" before a block's first command are comments; after it,
// they are output (iptables-save and osm-edge's heredoc print such lines).
// Blocks without a command illustrate rules and are not steps.
func ParseGuide(text string) ([]Step, error) {
	var steps []Step
	var state, section string
	inConsole, inOther := false, false
	collecting := false // lines are the output of the last step
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case (inConsole || inOther) && strings.HasPrefix(line, "```"):
			inConsole, inOther, collecting = false, false, false
		case inOther:
		case inConsole && strings.HasPrefix(line, "$ "):
			if state == "" {
				return nil, fmt.Errorf("line %d: command before any <!-- e2e-state: NAME --> comment", n)
			}
			steps = append(steps, Step{Line: n, Command: strings.TrimPrefix(line, "$ "), State: state, Section: section})
			collecting = true
		case inConsole && !collecting && strings.HasPrefix(line, "#"):
		case inConsole:
			if collecting {
				steps[len(steps)-1].Expected = append(steps[len(steps)-1].Expected, line)
			}
		case strings.HasPrefix(line, "```console"):
			inConsole = true
		case strings.HasPrefix(line, "```"):
			inOther = true
		case strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		default:
			if m := stateComment.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				state = m[1]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if inConsole || inOther {
		return nil, fmt.Errorf("unterminated code block at end of guide")
	}
	return steps, nil
}

// age matches the ages kubectl prints (32s, 5m, 2m3s, 3d4h, 12h): they differ
// on every run, so both sides mask them.
var age = regexp.MustCompile(`(^|\s)\d+[smhd](\d+[smh])?(\s|$)`)

// Normalize is how lines are compared: runs of white space collapsed to one
// space, ends trimmed, and ages replaced by "<age>". Nothing else is loosened.
func Normalize(line string) string {
	s := strings.Join(strings.Fields(line), " ")
	// Twice: adjacent ages share the space between them.
	for i := 0; i < 2; i++ {
		s = age.ReplaceAllString(s, "$1<age>$3")
	}
	return s
}

// Match checks actual output against a step's expected lines: the lines
// between two "..." must appear consecutively, the groups in order; without a
// leading "..." the first line must be the first of the output, without a
// trailing one the last must be the last. It returns "" or what did not match.
func Match(expected []string, actual string) string {
	exp := expected
	for len(exp) > 0 && strings.TrimSpace(exp[len(exp)-1]) == "" {
		exp = exp[:len(exp)-1]
	}
	var act []string
	if strings.TrimSpace(actual) != "" {
		act = strings.Split(strings.TrimRight(actual, "\n"), "\n")
	}
	for i := range act {
		act[i] = Normalize(act[i])
	}
	anchoredStart := len(exp) == 0 || strings.TrimSpace(exp[0]) != "..."
	anchoredEnd := len(exp) == 0 || strings.TrimSpace(exp[len(exp)-1]) != "..."
	var groups [][]string
	var cur []string
	for _, l := range exp {
		if strings.TrimSpace(l) == "..." {
			if len(cur) > 0 {
				groups = append(groups, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, Normalize(l))
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	if len(groups) == 0 {
		if anchoredStart && len(act) > 0 {
			return fmt.Sprintf("expected no output, got %d lines", len(act))
		}
		return ""
	}
	pos := 0
	for gi, g := range groups {
		first, last := gi == 0, gi == len(groups)-1
		at := -1
		switch {
		case last && anchoredEnd:
			i := len(act) - len(g)
			if i >= pos && (!first || !anchoredStart || i == 0) && equalAt(act, i, g) {
				at = i
			}
		case first && anchoredStart:
			if equalAt(act, 0, g) {
				at = 0
			}
		default:
			for i := pos; i+len(g) <= len(act); i++ {
				if equalAt(act, i, g) {
					at = i
					break
				}
			}
		}
		if at < 0 {
			return fmt.Sprintf("expected line %q (group %d of %d%s) not found after output line %d",
				g[firstMismatch(act, pos, g)], gi+1, len(groups), anchorNote(first, last, anchoredStart, anchoredEnd), pos)
		}
		pos = at + len(g)
	}
	return ""
}

// equalAt says whether the lines of g stand in act from index i on.
func equalAt(act []string, i int, g []string) bool {
	if i < 0 || i+len(g) > len(act) {
		return false
	}
	for j := range g {
		if act[i+j] != g[j] {
			return false
		}
	}
	return true
}

// firstMismatch picks the expected line to name: the first one of the group
// that is nowhere in the rest of the output, else the first.
func firstMismatch(act []string, pos int, g []string) int {
	for j, l := range g {
		found := false
		for _, a := range act[min(pos, len(act)):] {
			found = found || a == l
		}
		if !found {
			return j
		}
	}
	return 0
}

func anchorNote(first, last, start, end bool) string {
	var notes []string
	if first && start {
		notes = append(notes, "must start the output")
	}
	if last && end {
		notes = append(notes, "must end the output")
	}
	if len(notes) == 0 {
		return ""
	}
	return ", " + strings.Join(notes, " and ")
}

// Guide is a troubleshooting guide the suite runs, for the users of one mesh,
// and the cluster states its e2e-state comments may name.
type Guide struct {
	// File is relative to the repository root.
	File string
	// Mesh names the guide's users' mesh: the suite sets each state up as
	// that mesh keeps its settings.
	Mesh string
	// States the guide may name; the suite sets each up before the
	// commands that follow the comment, recreating the guide's pod:
	//   - defaults: the mesh's settings without exclusions; the pod has no
	//     annotation.
	//   - broken-annotation: the pod has the invalid port 70000 in its
	//     outbound-port-exclusion-list annotation.
	//   - ip-exclusions: the settings exclude 1.1.1.1/32 and 2.2.2.2/24.
	//   - port-exclusions: the settings exclude ports 6379 and 7070; the pod's
	//     annotation excludes 8080.
	//   - local-dns-proxy (osm-edge): spec.sidecar.localDNSProxy.enable, and
	//     the pod shaped as osm-edge's injector makes it then.
	//   - ebpf (osm-edge): spec.traffic.interceptionMode ebpf.
	States []string
}

// The meshes whose users the guides are for.
const (
	// MeshOSM is OSM v0.8 with Envoy: settings in the osm-config ConfigMap,
	// no MeshConfig.
	MeshOSM = "osm-v0.8"
	// MeshOSMEdge is osm-edge with Pipy as run with mesh-cni: a MeshConfig
	// config.openservicemesh.io/v1alpha2 with interceptionMode none.
	MeshOSMEdge = "osm-edge"
)

// Guides are the guides the suite runs.
var Guides = []Guide{
	{File: "docs/troubleshooting.md", Mesh: MeshOSM,
		States: []string{"defaults", "broken-annotation", "ip-exclusions", "port-exclusions"}},
	{File: "docs/troubleshooting.ja.md", Mesh: MeshOSMEdge,
		States: []string{"defaults", "broken-annotation", "ip-exclusions", "port-exclusions", "local-dns-proxy", "ebpf"}},
}

// Knows says whether the guide may name the state.
func (g Guide) Knows(state string) bool {
	for _, k := range g.States {
		if k == state {
			return true
		}
	}
	return false
}
