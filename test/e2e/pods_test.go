//go:build e2e

package e2e

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// pod describes a test pod: an app serving 8080 and 9090 and, when Sidecar
// names it, a sidecar container running as uid 1500 - the shape of an
// OSM-injected pod (label osm-proxy-uuid, no osm-init unless OSMInit).
type pod struct {
	Name, Namespace string
	// Sidecar is the sidecar container's name ("envoy" for OSM, "sidecar"
	// for osm-edge's Pipy); empty: an unmeshed pod.
	Sidecar string
	// OSMInit adds OSM's own init container (a stand-in that exits 0).
	OSMInit bool
	// LocalDNSProxy shapes the pod as osm-edge's injector does with
	// spec.sidecar.localDNSProxy.enable: the resolver pointed at
	// 127.0.0.153 and LOCAL_DNS_PROXY=true on the sidecar, which then
	// serves DNS on 127.0.0.153:5300.
	LocalDNSProxy bool
	Annotations   map[string]string
	// Node pins the pod to a node (TestMultiNode); empty: the scheduler's.
	Node string
}

// manifest renders the pod. Readiness is probed over loopback, which no rule
// redirects, so a pod is Ready only when its listeners are.
func (p pod) manifest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n    e2e: %q\n", p.Name, p.Namespace, p.Name)
	if p.Sidecar != "" {
		// OSM's injector labels each proxied pod with its proxy's UUID.
		h := fmt.Sprintf("%x", sha256.Sum256([]byte(p.Namespace+"/"+p.Name)))
		fmt.Fprintf(&b, "    osm-proxy-uuid: %q\n", h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:32])
	}
	if len(p.Annotations) > 0 {
		b.WriteString("  annotations:\n")
		keys := make([]string, 0, len(p.Annotations))
		for k := range p.Annotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "    %s: %q\n", k, p.Annotations[k])
		}
	}
	b.WriteString("spec:\n  terminationGracePeriodSeconds: 1\n  enableServiceLinks: false\n")
	if p.Node != "" {
		fmt.Fprintf(&b, "  nodeName: %s\n", p.Node)
	}
	if p.LocalDNSProxy {
		b.WriteString("  dnsPolicy: None\n  dnsConfig:\n    nameservers: [127.0.0.153]\n" +
			"    searches: [svc.cluster.local, cluster.local]\n    options: [{name: ndots, value: \"5\"}]\n")
	}
	if p.OSMInit {
		fmt.Fprintf(&b, "  initContainers:\n  - name: osm-init\n    image: %s\n    imagePullPolicy: Never\n    command: [\"/bin/sh\", \"-c\", \"true\"]\n", appImage)
	}
	b.WriteString("  containers:\n")
	b.WriteString(container("app", []string{"/meshapp", "serve", "8080", "9090"}, "127.0.0.1:8080", 0, false))
	if p.Sidecar != "" {
		b.WriteString(container(p.Sidecar, []string{"/meshapp", "sidecar"}, "127.0.0.1:15001", 1500, p.LocalDNSProxy))
	}
	return b.String()
}

func container(name string, command []string, probe string, uid int, dnsProxy bool) string {
	q := make([]string, len(command))
	for i, c := range command {
		q[i] = fmt.Sprintf("%q", c)
	}
	s := fmt.Sprintf("  - name: %s\n    image: %s\n    imagePullPolicy: Never\n    command: [%s]\n"+
		"    readinessProbe:\n      exec: {command: [\"/meshapp\", \"dial\", %q]}\n      periodSeconds: 1\n",
		name, appImage, strings.Join(q, ", "), probe)
	if uid != 0 {
		s += fmt.Sprintf("    securityContext: {runAsUser: %d, runAsGroup: %d}\n", uid, uid)
	}
	if dnsProxy {
		s += "    env: [{name: LOCAL_DNS_PROXY, value: \"true\"}]\n"
	}
	return s
}

// start creates the pod and waits until it is Ready.
func (e *env) start(t *testing.T, p pod) {
	t.Helper()
	e.create(t, p.manifest())
	e.waitReady(t, p)
}

func (e *env) waitReady(t *testing.T, p pod) {
	t.Helper()
	if _, err := e.kubectl("wait", "-n", p.Namespace, "--for=condition=Ready", "pod/"+p.Name, "--timeout=120s"); err != nil {
		desc, _ := e.kubectl("describe", "pod", "-n", p.Namespace, p.Name)
		t.Fatalf("pod %s/%s not Ready: %v\n%s", p.Namespace, p.Name, err, desc)
	}
}

// remove deletes the pod and waits until it is gone.
func (e *env) remove(t *testing.T, namespace, name string) {
	t.Helper()
	e.must(t, "delete", "pod", "-n", namespace, name, "--ignore-not-found", "--wait=true", "--timeout=90s")
}

// discard deletes the pod without waiting: for pods whose name is not
// reused, so nothing depends on their being gone.
func (e *env) discard(t *testing.T, namespace, name string) {
	t.Helper()
	e.must(t, "delete", "pod", "-n", namespace, name, "--ignore-not-found", "--wait=false")
}

// podIP returns the pod's IP.
func (e *env) podIP(t *testing.T, p pod) string {
	t.Helper()
	ip := strings.TrimSpace(e.must(t, "get", "pod", "-n", p.Namespace, p.Name, "-o", "jsonpath={.status.podIP}"))
	if ip == "" {
		t.Fatalf("pod %s/%s has no IP", p.Namespace, p.Name)
	}
	return ip
}

// event is podcheck's Event.
type event = podcheck.Event

// events lists the events of the pod with this reason, of this pod only
// (not of an earlier pod with the same name).
func (e *env) events(t *testing.T, p pod, reason string) []event {
	t.Helper()
	evs, err := podcheck.Events(e.kubectlFunc, p.Namespace, p.Name, reason)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// waitEvent waits for the pod's first event with this reason.
func (e *env) waitEvent(t *testing.T, p pod, reason string, timeout time.Duration) event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if evs := e.events(t, p, reason); len(evs) > 0 {
			return evs[0]
		}
		if time.Now().After(deadline) {
			desc, _ := e.kubectl("describe", "pod", "-n", p.Namespace, p.Name)
			t.Fatalf("no %s event on pod %s/%s after %s\n%s", reason, p.Namespace, p.Name, timeout, desc)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// landing is where a connection ended up (podcheck's Landing, a type of
// this package so the scenarios' tables stay unkeyed).
type landing podcheck.Landing

func (l landing) String() string { return podcheck.Landing(l).String() }

// dial connects from a container of the pod (as that container's user) to
// addr and returns who answered.
func (e *env) dial(t *testing.T, from pod, containerName, addr string) landing {
	t.Helper()
	l, err := podcheck.Dial(e.kubectlFunc, from.Namespace, from.Name, containerName, addr)
	if err != nil {
		t.Fatal(err)
	}
	return landing(l)
}

// ensureNamespace creates the namespace unless it exists.
func (e *env) ensureNamespace(t *testing.T, name string) {
	t.Helper()
	e.apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name))
}
