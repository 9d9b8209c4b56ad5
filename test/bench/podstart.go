package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/cni"
	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/test/agentrun"
	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/images"
)

// podStartNamespace holds the pod start-up test's pods.
const podStartNamespace = "podstart"

// podStartResult is item 4: `kubectl apply` to Ready on a real node.
type podStartResult struct {
	pods, rounds int
	// meshed are per-pod times with mesh-cni in the chain; osmInit with
	// the osm-init-style init container and no mesh-cni.
	meshed, osmInit series
	// meshedBatch and osmInitBatch are apply to the batch's last Ready.
	meshedBatch, osmInitBatch series
	// events counts mesh-cni's RedirectionConfigured events on meshed pods
	// (the agent writes them after answering, so a batch can be Ready
	// before the last is in).
	events int
}

// podVariant is one side of the comparison.
type podVariant struct {
	name    string
	meshCNI bool
	pods    *series
	batch   *series
}

// podBatch is the variant's pods in podStartNamespace.
func (v podVariant) podBatch() podBatch {
	return podBatch{podStartNamespace, v.name, func(name string) string { return podYAML(name, !v.meshCNI) }}
}

// measurePodStart brings up the node, installs mesh-cni's binary and
// conflist entry directly with a node agent in this process (no
// DaemonSet, so the installer's own start-up is not in the figures), and
// takes turns between batches of pods with mesh-cni in the chain and
// batches with an osm-init init container and mesh-cni taken out of the
// chain.
func measurePodStart(t *phase, b *binaries, pods, rounds int) *podStartResult {
	// StartNode, not BringUpNode: it holds the machine-wide node lock until
	// the phase ends, so no other suite's StartNode replaces the node
	// mid-measurement; it tears the node down at the end.
	node := cluster.StartNode(t)
	for _, tar := range buildImages(t, b, t.TempDir()) {
		if out, err := exec.Command("ctr", "--address="+node.ContainerdAddress, "--namespace=k8s.io", "images", "import", tar).CombinedOutput(); err != nil {
			t.Fatalf("importing %s: %v: %s", tar, err, out)
		}
	}
	plain, meshed := nodeConflists(t, b, node)
	r := &podStartResult{pods: pods, rounds: rounds,
		meshed: series{name: "pod start, mesh-cni"}, osmInit: series{name: "pod start, osm-init container"},
		meshedBatch: series{name: "batch, mesh-cni"}, osmInitBatch: series{name: "batch, osm-init container"}}
	variants := []podVariant{{"mesh", true, &r.meshed, &r.meshedBatch}, {"osminit", false, &r.osmInit, &r.osmInitBatch}}
	node.Kubectl(t, "create", "namespace", podStartNamespace)
	waitDefaultSA(t, node, podStartNamespace)
	// One unmeasured pod of each kind: the first container of an image
	// pays for unpacking it.
	for _, v := range variants {
		setConflist(t, node, plain, meshed, v.meshCNI)
		runBatch(t, node, v.podBatch(), "warm", 1)
		deleteBatch(t, node, podStartNamespace)
	}
	for round := 0; round < rounds; round++ {
		for i := range variants {
			t.checkInterrupt()
			v := variants[(round+i)%len(variants)]
			setConflist(t, node, plain, meshed, v.meshCNI)
			bt := runBatch(t, node, v.podBatch(), fmt.Sprintf("r%d", round), pods)
			v.pods.d = append(v.pods.d, bt.ready...)
			v.batch.d = append(v.batch.d, bt.last)
			if v.meshCNI {
				r.events += countEvents(t, node, podStartNamespace, cni.ReasonConfigured, fmt.Sprintf("%s-r%d-", v.name, round))
			}
			deleteBatch(t, node, podStartNamespace)
		}
	}
	t.Logf("pod start medians: mesh-cni %s, osm-init container %s", ms(summarize(r.meshed.d).med), ms(summarize(r.osmInit.d).med))
	return r
}

// nodeConflists returns the node's primary conflist and the same with
// mesh-cni's entry appended, after putting the plugin into the node's CNI
// bin dir. The entry's agentSocket is a node agent started here, in this
// process, for the node's name with deploy/'s ServiceAccount and RBAC: the
// pods are scheduled to that node, so they are the ones the agent
// watches, as on a real node. It stops when the phase ends, after the
// last batch and before the node goes down.
func nodeConflists(t *phase, b *binaries, node *cluster.Node) (plain, meshed []byte) {
	node.ApplyDeployRBAC(t)
	agent := agentrun.Start(t, node.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni"), node.Name)
	must(t, "installing mesh-cni", copyInto(node.CNIBinDir, b.meshCNI, "mesh-cni"))
	plain, err := os.ReadFile(node.CNIConfFile)
	must(t, "reading the node's conflist", err)
	var list map[string]any
	must(t, "decoding the node's conflist", json.Unmarshal(plain, &list))
	plugins, _ := list["plugins"].([]any)
	list["plugins"] = append(plugins, map[string]any{"type": "mesh-cni", "agentSocket": agent.Socket, "runDir": filepath.Dir(agent.Socket)})
	meshed, err = json.MarshalIndent(list, "", "  ")
	must(t, "encoding the meshed conflist", err)
	return plain, meshed
}

// setConflist writes the node's conflist with or without mesh-cni,
// atomically, and gives containerd a moment to reload it.
func setConflist(t *phase, node *cluster.Node, plain, meshed []byte, withMesh bool) {
	data := plain
	if withMesh {
		data = meshed
	}
	if cur, err := os.ReadFile(node.CNIConfFile); err == nil && string(cur) == string(data) {
		return
	}
	// The temporary name's extension is none libcni loads.
	tmp := node.CNIConfFile + ".bench-tmp"
	must(t, "writing the conflist", os.WriteFile(tmp, data, 0o644))
	must(t, "replacing the conflist", os.Rename(tmp, node.CNIConfFile))
	time.Sleep(2 * time.Second)
}

// waitDefaultSA waits for the controller-manager to create the default
// ServiceAccount that pod admission needs in namespace.
func waitDefaultSA(t *phase, node *cluster.Node, namespace string) {
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		if _, err := node.TryKubectl("get", "serviceaccount", "default", "-n", namespace); err == nil {
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("no default ServiceAccount in %s after a minute", namespace)
		}
	}
}

// podBatch is what one `kubectl apply` of pods creates.
type podBatch struct {
	// namespace holds the pods; prefix starts their names.
	namespace, prefix string
	// manifest is the YAML of the pod named name.
	manifest func(name string) string
}

// batchTimes are one batch's figures, each from the start of `kubectl
// apply`.
type batchTimes struct {
	names []string
	// ready is each pod's time to Ready; seen to its first event on the
	// watch (admitted and stored), in names' order.
	ready, seen []time.Duration
	// last is the batch's last Ready; apply how long kubectl apply ran.
	last, apply time.Duration
}

// runBatch applies count pods of b at once and returns their times.
func runBatch(t *phase, node *cluster.Node, b podBatch, tag string, count int) batchTimes {
	bt := batchTimes{names: make([]string, count)}
	docs := make([]string, count)
	for i := range bt.names {
		bt.names[i] = fmt.Sprintf("%s-%s-%02d", b.prefix, tag, i)
		docs[i] = b.manifest(bt.names[i])
	}
	file := filepath.Join(t.TempDir(), "pods.yaml")
	must(t, "writing the pods", os.WriteFile(file, []byte(strings.Join(docs, "---\n")), 0o644))
	w, err := watchReady(node.AdminKubeconfig, b.namespace)
	must(t, "watching pods", err)
	defer w.stop()
	start := time.Now()
	if _, err := node.TryKubectl("apply", "-f", file); err != nil {
		t.Fatalf("creating %s pods: %v", b.prefix, err)
	}
	bt.apply = time.Since(start)
	readyAt, err := w.wait(t.Context(), bt.names, 5*time.Minute)
	if err != nil {
		out, _ := node.TryKubectl("get", "pods,events", "-n", b.namespace, "-o", "wide")
		t.Fatalf("%s batch %s: %v\n%s", b.prefix, tag, err, out)
	}
	for _, n := range bt.names {
		d := readyAt[n].Sub(start)
		bt.ready = append(bt.ready, d)
		bt.seen = append(bt.seen, w.firstSeen(n).Sub(start))
		bt.last = max(bt.last, d)
	}
	t.Logf("%s batch %s: %d pods Ready, last after %s (kubectl apply %s)", b.prefix, tag, count, ms(bt.last), ms(bt.apply))
	return bt
}

// podYAML is a pod shaped like an OSM-injected one: the osm-proxy-uuid
// label, the app and the envoy sidecar (uid 1500), and with osmInit the
// osm-init init container (NET_ADMIN) running the seed's command chain.
func podYAML(name string, osmInit bool) string {
	init := ""
	if osmInit {
		rs, _ := rules.Build(rules.DefaultConfig(rules.ProfileOSMv0), rules.IPv4)
		cmd, _ := json.Marshal(rules.RenderOSMInit(rs))
		init = fmt.Sprintf(`  initContainers:
  - name: osm-init
    image: %s
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", %s]
    securityContext: {capabilities: {add: [NET_ADMIN]}}
`, osmInitImage, cmd)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {app: bench, osm-proxy-uuid: %s}
spec:
  terminationGracePeriodSeconds: 0
  enableServiceLinks: false
  automountServiceAccountToken: false
%s  containers:
  - {name: app, image: %s, imagePullPolicy: Never, command: ["/meshapp", "serve", "8080"]}
  - {name: envoy, image: %s, imagePullPolicy: Never, command: ["/meshapp", "sidecar"], securityContext: {runAsUser: 1500}}
`, name, podStartNamespace, fakeUUID(name), init, images.App, images.App)
}

// countEvents counts mesh-cni's events of reason in namespace on the
// pods whose names start with prefix.
func countEvents(t *phase, node *cluster.Node, namespace, reason, prefix string) int {
	out, err := node.TryKubectl("get", "events", "-n", namespace, "--field-selector", "reason="+reason,
		"-o", "jsonpath={range .items[*]}{.involvedObject.name}{\"\\n\"}{end}")
	must(t, "listing mesh-cni's events", err)
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// deleteBatch deletes the namespace's pods and waits until they are gone,
// so the next batch starts on an idle node.
func deleteBatch(t *phase, node *cluster.Node, namespace string) {
	if _, err := node.TryKubectl("delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=180s"); err != nil {
		t.Fatalf("deleting the batch: %v", err)
	}
}
