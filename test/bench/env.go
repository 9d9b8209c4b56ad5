package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/cni"
	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/test/agentrun"
	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/cnirun"
)

// benchNamespace holds the pods the kernel measurements ADD.
const benchNamespace = "bench"

// benchNode is the node the kernel measurements' pods are bound to and
// their agent serves: on a real node every pod the plugin sees is
// scheduled there, and the agent watches that node's pods (others it
// would read from the API), so unbound pods would measure the wrong path.
const benchNode = "bench-node"

// backends are the iptables backends, in the order they are measured.
var backends = []apply.Backend{apply.BackendNFT, apply.BackendLegacy}

// kernelEnv is what the measurements in network namespaces share: the
// binaries, a control plane on loopback, the node agent the plugin asks
// (running in this process with the permissions deploy/ grants), and the
// rule set every meshed ADD installs.
type kernelEnv struct {
	b  *binaries
	cp *cluster.ControlPlane
	// kubeconfig is the mesh-cni ServiceAccount's, which the agent uses.
	kubeconfig string
	agent      *agentrun.Agent
	// baseWatches are the kube-apiserver's open watches before the agent
	// started (its own informers'), so that the agent's can be told apart.
	baseWatches map[string]int
	// want is the default rule set (osm-v0, IPv4): what mesh-cni installs
	// for a pod with no annotations and no MeshConfig, and what the
	// osm-init command chain installs.
	want rules.RuleSet
	// osmInit is the seed's osm-init command line for want.
	osmInit string
	// iptablesDirs[backend] holds an `iptables` for that backend, to put
	// first in the osm-init shell's PATH.
	iptablesDirs map[apply.Backend]string
	// seedLock is the lock file legacy seeding uses instead of the host's.
	seedLock string
}

// newKernelEnv starts the control plane, creates the namespaces and the
// plugin's ServiceAccount and RBAC from deploy/, and starts the node agent
// for benchNode with that account's token, as the DaemonSet runs it.
func newKernelEnv(t *phase, b *binaries) *kernelEnv {
	k := &kernelEnv{b: b, cp: cluster.StartControlPlane(t), iptablesDirs: map[apply.Backend]string{}}
	k.cp.InstallMeshConfigCRD(t)
	k.cp.ApplyDeployRBAC(t)
	// No controller-manager runs: create the default ServiceAccount that
	// pod admission asks for.
	k.cp.Apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n"+
		"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: %s\n", benchNamespace, benchNamespace))
	k.kubeconfig = k.cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni")
	k.baseWatches = k.apiSnapshot(t).watches
	k.agent = agentrun.Start(t, k.kubeconfig, benchNode)
	var err error
	if k.want, err = rules.Build(rules.DefaultConfig(rules.ProfileOSMv0), rules.IPv4); err != nil {
		t.Fatalf("building the default rule set: %v", err)
	}
	k.osmInit = rules.RenderOSMInit(k.want)
	tmp := t.TempDir()
	k.seedLock = filepath.Join(tmp, "seed.xtables.lock")
	for b, multi := range map[apply.Backend]string{apply.BackendNFT: "xtables-nft-multi", apply.BackendLegacy: "xtables-legacy-multi"} {
		path, err := exec.LookPath(multi)
		if err != nil {
			t.Fatalf("the %s backend needs %s: %v", b, multi, err)
		}
		dir := filepath.Join(tmp, string(b))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("iptables dir: %v", err)
		}
		// xtables-*-multi picks its personality from argv[0]'s base name.
		if err := os.Symlink(path, filepath.Join(dir, "iptables")); err != nil {
			t.Fatalf("iptables link for %s: %v", b, err)
		}
		k.iptablesDirs[b] = dir
	}
	return k
}

// network is a bridge network with subnet and mesh-cni configured as the
// installer configures it (the agent's socket; defaults otherwise).
func (k *kernelEnv) network(t *phase, subnet string) *cnirun.Network {
	return k.networkIn(t, subnet, k.b.dir)
}

// networkIn is network with binDir as CNI_PATH (the baseline's).
func (k *kernelEnv) networkIn(t *phase, subnet, binDir string) *cnirun.Network {
	return cnirun.New(t, cnirun.Options{BinDir: binDir, Subnet: netip.MustParsePrefix(subnet), AgentSocket: k.agent.Socket})
}

// pods creates pods in benchNamespace bound to benchNode (with the sidecar
// "envoy" unless noSidecar) and returns their UIDs by name. No kubelet
// runs, so they stay Pending; the binding is what puts them in the
// agent's watch.
func (k *kernelEnv) pods(t *phase, noSidecar bool, names ...string) map[string]string {
	var docs []string
	for _, n := range names {
		c := "  - {name: app, image: app}\n"
		if !noSidecar {
			c += "  - {name: envoy, image: envoy}\n"
		}
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {osm-proxy-uuid: %s}\nspec:\n  nodeName: %s\n  containers:\n%s",
			n, benchNamespace, fakeUUID(n), benchNode, c))
	}
	k.cp.Apply(t, strings.Join(docs, "---\n"))
	out := k.cp.Kubectl(t, "get", "pods", "-n", benchNamespace, "-o", "json")
	var list struct {
		Items []struct {
			Metadata struct{ Name, UID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding pod list: %v", err)
	}
	uids := map[string]string{}
	for _, p := range list.Items {
		uids[p.Metadata.Name] = p.Metadata.UID
	}
	for _, n := range names {
		if uids[n] == "" {
			t.Fatalf("pod %s/%s has no UID after creation", benchNamespace, n)
		}
	}
	return uids
}

// fakeUUID is an osm-proxy-uuid-shaped label value derived from name.
func fakeUUID(name string) string {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", h, h)
}

// seed makes the sandbox look like a pod on a legacy-iptables node: one
// nat rule in the legacy backend, which mesh-cni's detection follows (it
// has no backend setting). It takes a lock file of its own so the host's
// xtables lock, held in the concurrency test, does not stop it.
func (k *kernelEnv) seed(t *phase, s *cnirun.Sandbox, b apply.Backend) {
	if b != apply.BackendLegacy {
		return
	}
	err := s.NS.Do(func() error {
		cmd := exec.Command("iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "RETURN")
		cmd.Env = append(os.Environ(), "XTABLES_LOCKFILE="+k.seedLock)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seeding a legacy nat rule in %s: %v", s.NS.Name, err)
	}
}

// verify checks the sandbox holds exactly the wanted rule sets of ours,
// in backend b and none in the other.
func (k *kernelEnv) verify(s *cnirun.Sandbox, b apply.Backend, sets []rules.RuleSet) error {
	err := s.NS.Do(func() error {
		return apply.Verify(sets, apply.Options{LockDir: cni.DefaultLockDir, Backend: b})
	})
	if err != nil {
		return fmt.Errorf("rules in %s (%s): %w", s.NS.Name, b, err)
	}
	return nil
}

// runOSMInit runs the osm-init command chain with sh -c in the sandbox's
// netns, iptables resolving to backend b, and returns how long it took
// and the CPU time of sh and the iptables processes.
func (k *kernelEnv) runOSMInit(s *cnirun.Sandbox, b apply.Backend) (took, cpu time.Duration, err error) {
	err = s.NS.Do(func() error {
		cmd := exec.Command("sh", "-c", k.osmInit)
		cmd.Env = []string{"PATH=" + k.iptablesDirs[b] + ":/usr/sbin:/usr/bin:/sbin:/bin"}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took = time.Since(start)
		if cmd.ProcessState != nil {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
		}
		if err != nil {
			return fmt.Errorf("osm-init chain (%s) in %s: %w: %s", b, s.NS.Name, err, out)
		}
		return nil
	})
	return took, cpu, err
}
