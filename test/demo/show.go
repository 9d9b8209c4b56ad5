package main

import (
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// showPod: both containers run, and nothing privileged ran before them.
func (d *demo) showPod() error {
	d.header("kubectl get pod: READY 2/2 is the app and the envoy sidecar OSM's injector added, Running with no init container, so nothing in the pod needed NET_ADMIN")
	out, err := d.show("get", "pod", "-n", nsDemo, podApp)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == podApp {
			if f[1] != "2/2" || f[2] != "Running" {
				return fmt.Errorf("pod %s is %s %s, want 2/2 Running", podApp, f[1], f[2])
			}
			d.note("ok: 2/2 Running")
			return nil
		}
	}
	return fmt.Errorf("kubectl get pod printed no line for %s", podApp)
}

// showDescribe: the record of osm-init's script and mesh-cni's event.
func (d *demo) showDescribe() error {
	d.header("kubectl describe pod: no Init Containers (mesh-cni's webhook took osm-init out), the annotation " + webhook.CommandAnnotation + " with the script osm-init would have run, and mesh-cni's RedirectionConfigured event from the CNI ADD that installed it")
	// The event follows the sandbox by a moment; Events expire after an
	// hour, the annotation stays.
	evErr := poll(30*time.Second, func() error {
		evs, err := podcheck.Events(d.kubectl, nsDemo, podApp, "RedirectionConfigured")
		if err == nil && len(evs) == 0 {
			err = fmt.Errorf("no RedirectionConfigured event on %s/%s", nsDemo, podApp)
		}
		return err
	})
	out, err := d.show("describe", "pod", "-n", nsDemo, podApp)
	if err != nil {
		return err
	}
	init, err := d.kubectl(nil, "get", "pod", "-n", nsDemo, podApp, "-o", "jsonpath={.spec.initContainers[*].name}")
	if err != nil {
		return err
	}
	// The webhook replaces osm-init with its unprivileged validation
	// container, which checks the rules before the app starts.
	switch {
	case strings.TrimSpace(init) != "mesh-cni-validation":
		return fmt.Errorf("pod %s has init containers %q, want only mesh-cni-validation: mesh-cni's webhook did not take osm-init out", podApp, init)
	case !strings.Contains(out, webhook.CommandAnnotation+":"):
		return fmt.Errorf("describe shows no %s annotation", webhook.CommandAnnotation)
	case evErr != nil && d.podAge(podApp) < time.Hour:
		return evErr
	case evErr != nil:
		d.note("ok: no osm-init (mesh-cni-validation instead), the script recorded (the RedirectionConfigured event has expired: Events last an hour)")
	default:
		d.note("ok: no osm-init (mesh-cni-validation instead), the script recorded, RedirectionConfigured")
	}
	return nil
}

// podAge is how long ago the pod was created (0 when unknown).
func (d *demo) podAge(name string) time.Duration {
	out, err := d.kubectl(nil, "get", "pod", "-n", nsDemo, name, "-o", "jsonpath={.metadata.creationTimestamp}")
	if err != nil {
		return 0
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(out))
	if err != nil {
		return 0
	}
	return time.Since(t)
}

// podNAT prints and returns the nat table of the pod's netns, read on the
// node (this machine) as test/e2e's podNAT does.
func (d *demo) podNAT(name string) ([]string, error) {
	id, err := podcheck.AppContainerID(d.kubectl, nsDemo, name)
	if err != nil {
		return nil, err
	}
	fmt.Printf("$ nsenter -t <pid of a process of %s's app container> -n iptables-save -t nat   # on the node\n", name)
	out, err := exec.Command("sh", "-c", podcheck.NATScript(id)).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("iptables-save in the netns of %s/%s: %w\n%s", nsDemo, name, err, out)
	}
	printBlock(string(out))
	return podcheck.NATLines(string(out)), nil
}

// showNAT: the rules are in the pod, whoever looks.
func (d *demo) showNAT() error {
	d.header("The rules in the pod's network namespace, iptables-save -t nat run in it from the node: OSM's chains, which mesh-cni installed at sandbox creation, before any of the pod's containers started")
	lines, err := d.podNAT(podApp)
	if err != nil {
		return err
	}
	for _, want := range []string{"-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 15001", "-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15003"} {
		if !contains(lines, want) {
			return fmt.Errorf("the pod's nat table lacks %q", want)
		}
	}
	d.note("ok: outbound TCP to 15001, inbound to 15003")
	return nil
}

// showTraffic: a real connection each way the rules decide.
func (d *demo) showTraffic() error {
	d.header("Real connections from the pod: the app's to the peer's 8080 lands on the sidecar's 15001, which reads the original destination back (SO_ORIGINAL_DST); envoy's (uid 1500) goes straight to the peer. meshapp answers with who received it")
	peer, err := d.peerIP()
	if err != nil {
		return err
	}
	return d.expectDials(podApp, []dialCase{
		{"app", peer + ":8080", podcheck.Landing{Role: "sidecar-outbound", Dst: peer + ":8080", Host: podApp}},
		{"envoy", peer + ":8080", podcheck.Landing{Role: "app", Dst: "8080", Host: podPeer}},
	})
}

// showExclusion is the troubleshooting guide's scenario 3.
func (d *demo) showExclusion() error {
	d.header("The troubleshooting guide's scenario 3: the pod annotation " + portAnno + ": \"8080\" takes port 8080 out of redirection for that pod: its app reaches the peer's 8080 directly, while 9090 still lands on its sidecar")
	if _, err := d.show("get", "pod", "-n", nsDemo, podExcl, "-o", `jsonpath={.metadata.annotations.openservicemesh\.io/outbound-port-exclusion-list}{"\n"}`); err != nil {
		return err
	}
	lines, err := d.podNAT(podExcl)
	if err != nil {
		return err
	}
	if want := "-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports 8080 -j RETURN"; !contains(lines, want) {
		return fmt.Errorf("the nat table of %s lacks %q", podExcl, want)
	}
	peer, err := d.peerIP()
	if err != nil {
		return err
	}
	return d.expectDials(podExcl, []dialCase{
		{"app", peer + ":8080", podcheck.Landing{Role: "app", Dst: "8080", Host: podPeer}},
		{"app", peer + ":9090", podcheck.Landing{Role: "sidecar-outbound", Dst: peer + ":9090", Host: podExcl}},
	})
}

// dialCase is one connection and where it must land.
type dialCase struct {
	container, addr string
	want            podcheck.Landing
}

func (d *demo) expectDials(pod string, cases []dialCase) error {
	for _, c := range cases {
		fmt.Printf("$ kubectl exec -n %s %s -c %s -- /meshapp dial %s\n", nsDemo, pod, c.container, c.addr)
		got, err := podcheck.Dial(d.kubectl, nsDemo, pod, c.container, c.addr)
		if err != nil {
			return err
		}
		fmt.Println(got)
		if got != c.want {
			return fmt.Errorf("%s (%s) -> %s landed %q, want %q", pod, c.container, c.addr, got, c.want)
		}
		d.note("ok: %s", c.want)
	}
	return nil
}

func (d *demo) peerIP() (string, error) {
	out, err := d.kubectl(nil, "get", "pod", "-n", nsPeer, podPeer, "-o", "jsonpath={.status.podIP}")
	if err == nil && strings.TrimSpace(out) == "" {
		err = fmt.Errorf("pod %s/%s has no IP", nsPeer, podPeer)
	}
	return strings.TrimSpace(out), err
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
