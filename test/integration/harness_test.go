package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/agentrun"
	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
	"github.com/mesh-cni/mesh-cni/test/netns"
)

// env is one bridge network, one control plane and the node agent the
// plugin asks, shared by the subtests of a test.
type env struct {
	cp    *cluster.ControlPlane
	agent *agentrun.Agent
	// net is the bridge network; chains holds its variants by CNI version
	// and extra mesh-cni settings, all on the same bridge and address pool
	// so every pod can reach the server.
	net    *cnirun.Network
	chains map[[2]string]*cnirun.Network
	// log is the plugins' stderr (mesh-cni's log lines) since resetLog.
	log strings.Builder
}

// newEnv starts the control plane, installs the MeshConfig CRD and
// deploy/'s RBAC (the agent runs with exactly what users deploy), and
// prepares a bridge network of the test's own on subnet.
func newEnv(t testing.TB, subnet string) *env {
	t.Helper()
	netns.RequireKernel(t, "iptables-save")
	e := &env{cp: cluster.StartControlPlane(t), chains: map[[2]string]*cnirun.Network{}}
	e.cp.InstallMeshConfigCRD(t)
	e.cp.ApplyDeployRBAC(t)
	e.agent = agentrun.Start(t, e.cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni"), nodeName)
	for _, ns := range []string{"osm-system", "test"} {
		// No controller-manager runs: create the default ServiceAccount
		// that pod admission asks for.
		e.cp.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n---\n"+
			"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: "+ns+"\n")
	}
	e.net = cnirun.New(t, cnirun.Options{BinDir: binDir, Subnet: netip.MustParsePrefix(subnet),
		AgentSocket: e.agent.Socket, MeshSettings: meshSettings("")})
	return e
}

// meshSettings are mesh-cni's settings in every test, then extra: debug
// logs, which the tests read, and a short API timeout.
func meshSettings(extra string) string {
	s := `"logLevel": "debug", "apiTimeout": "2s"`
	if extra != "" {
		s += ", " + extra
	}
	return s
}

// chain is the network whose conflist has the given version and extra
// mesh-cni settings.
func (e *env) chain(t testing.TB, version, extra string) *cnirun.Network {
	t.Helper()
	k := [2]string{version, extra}
	if e.chains[k] == nil {
		e.chains[k] = e.net.Variant(t, meshSettings(extra), version)
	}
	return e.chains[k]
}

// pluginLog is what the plugins logged since resetLog.
func (e *env) pluginLog() string {
	for _, c := range e.net.Recorder.Take() {
		e.log.WriteString(c.Stderr)
	}
	return e.log.String()
}

// resetLog forgets what the plugins logged so far.
func (e *env) resetLog() {
	e.pluginLog()
	e.log.Reset()
}

// sandbox is one pod's network namespace and the runtime's view of it.
type sandbox struct {
	*cnirun.Sandbox
	e *env
}

// newSandbox makes a netns for pod namespace/name (uid as the API knows
// it, or empty) with the CNI_ARGS containerd passes, for the chain of the
// given version and extra mesh-cni settings; DEL comes at the end of the
// test.
func (e *env) newSandbox(t testing.TB, namespace, name, uid, version, extra string) *sandbox {
	t.Helper()
	n := e.chain(t, version, extra)
	return &sandbox{Sandbox: n.NewSandbox(t, cnirun.Pod{Namespace: namespace, Name: name, UID: uid}), e: e}
}

// add runs the chain's ADD, mesh-cni last.
func (s *sandbox) add() error { return s.Add(context.Background(), true) }

func (s *sandbox) mustAdd(t testing.TB) {
	t.Helper()
	if err := s.add(); err != nil {
		t.Fatalf("ADD: %v\nplugin log:\n%s", err, s.e.pluginLog())
	}
}

// natTables is the nat table of both iptables backends in the netns.
func (s *sandbox) natTables(t testing.TB) string {
	t.Helper()
	var out strings.Builder
	for _, save := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		out.WriteString(s.NS.Run(t, save, "-t", "nat"))
	}
	return out.String()
}

// meshChains lists the chains of ours the netns holds, in either backend.
func (s *sandbox) meshChains(t testing.TB) []string {
	t.Helper()
	var chains []string
	for _, line := range strings.Split(s.natTables(t), "\n") {
		if strings.HasPrefix(line, ":PROXY_") || strings.HasPrefix(line, ":OSM_PROXY_") {
			chains = append(chains, strings.Fields(line[1:])[0])
		}
	}
	return chains
}

// nodeName is the node the tests' pods are bound to and the agent serves:
// there is no such Node object and no kubelet, so the pods stay Pending,
// but the agent's watch of the node's pods sees them as on a real node.
const nodeName = "integration-node"

// pod creates a pod object bound to nodeName, shaped like one OSM's
// injector made, and returns its UID: containers app and, unless sidecar
// is empty, the sidecar with the injector's osm-proxy-uuid label.
func (e *env) pod(t testing.TB, namespace, name, sidecar string, annotations map[string]string) string {
	t.Helper()
	if sidecar == "" {
		return e.podOf(t, namespace, name, []string{"app"}, nil, annotations)
	}
	return e.podOf(t, namespace, name, []string{"app", sidecar}, map[string]string{"osm-proxy-uuid": "0f8fad5b-d9cb-469f-a165-70867728950e"}, annotations)
}

// podOf creates a pod object bound to nodeName with the given containers,
// labels and annotations, and returns its UID.
func (e *env) podOf(t testing.TB, namespace, name string, containers []string, labels, annotations map[string]string) string {
	t.Helper()
	var meta strings.Builder
	for _, block := range []struct {
		key string
		kv  map[string]string
	}{{"labels", labels}, {"annotations", annotations}} {
		if len(block.kv) == 0 {
			continue
		}
		fmt.Fprintf(&meta, "  %s:\n", block.key)
		for k, v := range block.kv {
			fmt.Fprintf(&meta, "    %s: %q\n", k, v)
		}
	}
	var spec strings.Builder
	for _, c := range containers {
		fmt.Fprintf(&spec, "  - name: %s\n    image: %s\n", c, c)
	}
	e.cp.Apply(t, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n%sspec:\n  nodeName: %s\n  containers:\n%s",
		name, namespace, meta.String(), nodeName, spec.String()))
	t.Cleanup(func() { e.cp.TryKubectl("delete", "pod", "-n", namespace, name, "--wait=false") })
	return strings.TrimSpace(e.cp.Kubectl(t, "get", "pod", "-n", namespace, name, "-o", "jsonpath={.metadata.uid}"))
}

// listen serves the proxy's two ports and an application port in the
// pod, so a probe says whether it was redirected.
func (s *sandbox) listen(t testing.TB, appPorts ...uint16) {
	t.Helper()
	s.NS.Serve(t, netip.MustParseAddrPort("0.0.0.0:15001"), "proxy-out")
	s.NS.Serve(t, netip.MustParseAddrPort("0.0.0.0:15003"), "proxy-in")
	for _, p := range appPorts {
		s.NS.Serve(t, netip.AddrPortFrom(netip.IPv4Unspecified(), p), "app")
	}
}

// probe connects from the netns (as uid, when not 0) and returns the
// listener's answer, failing the test when nothing answers.
func (s *sandbox) probe(t testing.TB, to netip.AddrPort, uid int) string {
	t.Helper()
	got, err := s.NS.Probe(to, uid)
	if err != nil {
		t.Fatalf("%v\nnat tables:\n%s", err, s.natTables(t))
	}
	return got
}

// wantLanding probes and compares with the expected answer.
func (s *sandbox) wantLanding(t testing.TB, to netip.AddrPort, uid int, want string) {
	t.Helper()
	if got := s.probe(t, to, uid); got != want {
		t.Errorf("connection to %s as uid %d landed at %q, want %q\nnat tables:\n%s", to, uid, got, want, s.natTables(t))
	}
}
