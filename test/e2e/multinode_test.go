//go:build e2e && kind

package e2e

import (
	"sort"
	"strings"
	"testing"
)

// TestMultiNode runs on a cluster with workers, which test/e2e/kind.sh
// creates after TestE2E's single node (build tags e2e and kind: it cannot
// run on the local node the e2e tier starts): mesh-cni's DaemonSet is Ready on
// every node, and meshed pods on two workers talk through their sidecars
// across the nodes' pod network (outbound lands on the client's sidecar
// with its original destination, the sidecar's own connection on the
// server's inbound sidecar).
func TestMultiNode(t *testing.T) {
	e := newEnv(t)
	if !e.external {
		t.Fatalf("TestMultiNode needs a cluster with workers: run it through test/e2e/kind.sh")
	}
	buildImages(t, e)
	s := &suite{env: e, ip: map[string]string{}}
	t.Cleanup(func() {
		for _, args := range [][]string{
			{"delete", "namespace", nsApps, "--ignore-not-found", "--wait=true", "--timeout=120s"},
			{"delete", "-k", "deploy/", "--ignore-not-found", "--wait=true", "--timeout=120s"},
		} {
			if _, err := s.kubectl(args...); err != nil {
				t.Errorf("cleaning up: %v", err)
			}
		}
	})
	nodes := strings.Fields(s.must(t, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"))
	workers := strings.Fields(s.must(t, "get", "nodes", "-l", "!node-role.kubernetes.io/control-plane", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(workers) < 2 {
		t.Fatalf("nodes %v: want at least two workers", nodes)
	}
	s.deploy(t)
	on := strings.Fields(s.must(t, "get", "pods", "-n", "mesh-cni", "-l", installerSelector, "-o", "jsonpath={.items[*].spec.nodeName}"))
	sort.Strings(on)
	sort.Strings(nodes)
	if strings.Join(on, " ") != strings.Join(nodes, " ") {
		t.Fatalf("mesh-cni's DaemonSet pods are on %v, want one on each of %v", on, nodes)
	}
	t.Logf("mesh-cni Ready on every node: %v", nodes)

	s.ensureNamespace(t, nsApps)
	web := pod{Name: "mesh-web", Namespace: nsApps, Sidecar: "envoy", Node: workers[0]}
	client := pod{Name: "mesh-client", Namespace: nsApps, Sidecar: "envoy", Node: workers[1]}
	plain := pod{Name: "plain-a", Namespace: nsApps, Node: workers[1]}
	for _, p := range []pod{web, client, plain} {
		s.start(t, p)
		s.ip[p.Name] = s.podIP(t, p)
	}
	t.Logf("pods: %s on %s, %s and %s on %s: %v", web.Name, web.Node, client.Name, plain.Name, client.Node, s.ip)
	w, a := s.ip[web.Name], s.ip[plain.Name]
	for _, tc := range []struct {
		name      string
		from      pod
		container string
		addr      string
		want      landing
	}{
		{"app's outbound to the other node lands on its sidecar", client, "app", w + ":8080", landing{"sidecar-outbound", w + ":8080", client.Name}},
		{"sidecar to sidecar across nodes", client, "envoy", w + ":8080", landing{"sidecar-inbound", w + ":8080", web.Name}},
		{"unmeshed pod to a meshed pod on another node", plain, "app", w + ":9090", landing{"sidecar-inbound", w + ":9090", web.Name}},
		{"sidecar to an unmeshed pod on another node", web, "envoy", a + ":8080", landing{"app", "8080", plain.Name}},
	} {
		t.Run(tc.name, func(t *testing.T) { s.expectLanding(t, tc.from, tc.container, tc.addr, tc.want) })
	}
}
