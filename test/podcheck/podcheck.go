// Package podcheck looks at a meshed pod from outside, as the e2e suite,
// `make demo` and the benchmark check it: where a connection from one of
// its containers lands (test/e2e/meshapp's answer), the nat table of its
// network namespace seen from the node, its events, and what admission
// made of it (Pod). Every function runs kubectl through a
// cluster.KubectlFunc, so it works on any cluster.
package podcheck

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// Landing is where a connection ended up, as meshapp reports it.
type Landing struct {
	// Role is "app", "sidecar-outbound" or "sidecar-inbound".
	Role string
	// Dst is the app's port, or the sidecar's SO_ORIGINAL_DST.
	Dst string
	// Host is the name of the pod that answered.
	Host string
}

func (l Landing) String() string { return l.Role + " " + l.Dst + " " + l.Host }

// Dial connects from a container of the pod (as that container's user) to
// addr with `meshapp dial` and returns who answered.
func Dial(kubectl cluster.KubectlFunc, namespace, pod, container, addr string) (Landing, error) {
	out, err := kubectl(nil, "exec", "-n", namespace, pod, "-c", container, "--", "/meshapp", "dial", addr)
	if err != nil {
		return Landing{}, fmt.Errorf("dial %s from %s/%s (%s): %w %s", addr, namespace, pod, container, err, out)
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		return Landing{}, fmt.Errorf("dial %s from %s/%s: unexpected answer %q", addr, namespace, pod, out)
	}
	return Landing{Role: f[0], Dst: f[1], Host: f[2]}, nil
}

// NATScript is the shell script that, run on the node, prints
// `iptables-save -t nat` of the netns of the container with this ID: it
// enters the netns through a process of the container, found by the ID in
// its cgroup.
func NATScript(containerID string) string {
	return `pid=; for f in /proc/[0-9]*/cgroup; do if grep -q "` + containerID + `" "$f" 2>/dev/null; then pid=${f#/proc/}; pid=${pid%/cgroup}; break; fi; done; ` +
		`[ -n "$pid" ] || { echo "no process of container ` + containerID + `" >&2; exit 1; }; nsenter -t "$pid" -n iptables-save -t nat`
}

// AppContainerID is the containerd ID of the pod's container "app".
func AppContainerID(kubectl cluster.KubectlFunc, namespace, pod string) (string, error) {
	out, err := kubectl(nil, "get", "pod", "-n", namespace, pod, "-o",
		`jsonpath={.status.containerStatuses[?(@.name=="app")].containerID}`)
	if err != nil {
		return "", err
	}
	_, id, _ := strings.Cut(strings.TrimSpace(out), "://") // containerd://ID
	if id == "" {
		return "", fmt.Errorf("pod %s/%s: app's container ID is %q", namespace, pod, out)
	}
	return id, nil
}

// NATLines is iptables-save output without its comment lines and chain
// counters: the rules the kernel holds, whoever wrote them.
func NATLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			l, _, _ = strings.Cut(l, " [")
		}
		lines = append(lines, l)
	}
	return lines
}

// Event is the part of a core/v1 Event the checks read.
type Event struct {
	Type, Reason, Message string
	Source                struct{ Component string }
	InvolvedObject        struct{ UID string }
}

// Events lists the events of the pod with this reason, of this pod only
// (not of an earlier pod with the same name).
func Events(kubectl cluster.KubectlFunc, namespace, pod, reason string) ([]Event, error) {
	uid, err := kubectl(nil, "get", "pod", "-n", namespace, pod, "-o", "jsonpath={.metadata.uid}")
	if err != nil {
		return nil, err
	}
	out, err := kubectl(nil, "get", "events", "-n", namespace, "--field-selector", "involvedObject.name="+pod+",reason="+reason, "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct{ Items []Event }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("parsing events of %s/%s: %w", namespace, pod, err)
	}
	var mine []Event
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID == strings.TrimSpace(uid) {
			mine = append(mine, ev)
		}
	}
	return mine, nil
}
