package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/test/cluster"
	"github.com/mesh-cni/mesh-cni/test/netns"
)

// env is one bridge network, one control plane and the plugin's
// kubeconfig, shared by the subtests of a test.
type env struct {
	cp         *cluster.ControlPlane
	kubeconfig string
	bridge     string
	subnet     netip.Prefix
	gateway    netip.Addr
	ipamDir    string
	cacheDir   string
	// stderr collects the plugins' stderr: mesh-cni's log lines. libcni
	// runs one plugin at a time, so no lock is needed.
	stderr bytes.Buffer
}

// pluginRBAC is what mesh-cni needs and nothing more: the integration
// tests run the plugin with these permissions only.
const pluginRBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: mesh-cni-plugin-test
rules:
- apiGroups: [""]
  resources: [pods, configmaps]
  verbs: [get]
- apiGroups: [config.openservicemesh.io]
  resources: [meshconfigs]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: mesh-cni-plugin-test
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: mesh-cni-plugin-test
subjects:
- kind: ServiceAccount
  name: mesh-cni
  namespace: mesh-cni
`

// newEnv starts the control plane, installs the MeshConfig CRD and the
// plugin's RBAC, and makes a bridge name and subnet of the test's own
// (the bridge plugin creates the bridge; cleanup deletes it).
func newEnv(t testing.TB, subnet string) *env {
	t.Helper()
	netns.RequireKernel(t, "iptables-save")
	e := &env{cp: cluster.StartControlPlane(t), subnet: netip.MustParsePrefix(subnet)}
	e.gateway = e.subnet.Addr().Next()
	e.bridge = fmt.Sprintf("mcit%d%d", os.Getpid()%100000, e.subnet.Addr().As4()[1]%10)
	e.ipamDir = t.TempDir()
	e.cacheDir = t.TempDir()
	e.cp.InstallMeshConfigCRD(t)
	e.kubeconfig = e.cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni")
	e.cp.Apply(t, pluginRBAC)
	for _, ns := range []string{"osm-system", "test"} {
		// No controller-manager runs: create the default ServiceAccount
		// that pod admission asks for.
		e.cp.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n---\n"+
			"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: "+ns+"\n")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", e.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("deleting bridge %s: %v: %s", e.bridge, err, out)
		}
	})
	return e
}

// conflist is the chain containerd would run: bridge with host-local, no
// default route (isDefaultGateway is off, host-local has no routes), then
// mesh-cni with the given extra settings.
func (e *env) conflist(version string, meshSettings string) []byte {
	if meshSettings != "" {
		meshSettings = "," + meshSettings
	}
	return []byte(fmt.Sprintf(`{
  "cniVersion": %q,
  "name": "mesh-cni-it",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]]}},
    {"type": "mesh-cni", "kubeconfig": %q, "logLevel": "debug", "apiTimeout": "2s"%s}
  ]
}`, version, e.bridge, e.ipamDir, e.subnet, e.kubeconfig, meshSettings))
}

func (e *env) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{binDir}, e.cacheDir, &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: &e.stderr}})
}

var podSeq atomic.Int64

// sandbox is one pod's network namespace and the runtime's view of it.
type sandbox struct {
	e    *env
	ns   *netns.NS
	rt   *libcni.RuntimeConf
	list *libcni.NetworkConfigList
	// result is what the chain's ADD returned.
	result types.Result
	ip     netip.Addr
}

// newSandbox makes a netns for pod namespace/name (uid as the API knows
// it, or empty) with the CNI_ARGS containerd passes, and arranges for DEL
// at the end of the test.
func (e *env) newSandbox(t testing.TB, namespace, name, uid, version, meshSettings string) *sandbox {
	t.Helper()
	n := netns.New(t)
	id := fmt.Sprintf("mcni%d%08d", os.Getpid(), podSeq.Add(1))
	list, err := libcni.ConfListFromBytes(e.conflist(version, meshSettings))
	if err != nil {
		t.Fatal(err)
	}
	s := &sandbox{e: e, ns: n, list: list, rt: &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       "/var/run/netns/" + n.Name,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", namespace},
			{"K8S_POD_NAME", name},
			{"K8S_POD_INFRA_CONTAINER_ID", id},
			{"K8S_POD_UID", uid},
		},
	}}
	// Registered after netns.New's cleanup, so it runs before the netns goes.
	t.Cleanup(func() {
		if err := e.cni().DelNetworkList(context.Background(), s.list, s.rt); err != nil {
			t.Errorf("DEL %s/%s: %v", namespace, name, err)
		}
	})
	return s
}

// add runs the chain's ADD and remembers the pod's address.
func (s *sandbox) add(t testing.TB) error {
	t.Helper()
	res, err := s.e.cni().AddNetworkList(context.Background(), s.list, s.rt)
	if err != nil {
		return err
	}
	s.result = res
	ips, err := resultIPs(res)
	if err != nil {
		t.Fatal(err)
	}
	s.ip = ips[0]
	return nil
}

func (s *sandbox) mustAdd(t testing.TB) {
	t.Helper()
	if err := s.add(t); err != nil {
		t.Fatalf("ADD: %v\nplugin log:\n%s", err, s.e.stderr.String())
	}
}

func (s *sandbox) check() error {
	return s.e.cni().CheckNetworkList(context.Background(), s.list, s.rt)
}

func resultIPs(res types.Result) ([]netip.Addr, error) {
	var r struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	data, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, ip := range r.IPs {
		p, err := netip.ParsePrefix(ip.Address)
		if err != nil {
			return nil, err
		}
		ips = append(ips, p.Addr())
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("result has no IP: %s", data)
	}
	return ips, nil
}

// natTables is the nat table of both iptables backends in the netns.
func (s *sandbox) natTables(t testing.TB) string {
	t.Helper()
	var out strings.Builder
	for _, save := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		out.WriteString(s.ns.Run(t, save, "-t", "nat"))
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

// pod creates a pod object (never scheduled: there is no node) and
// returns its UID. Containers are the app and, unless sidecar is empty,
// the sidecar.
func (e *env) pod(t testing.TB, namespace, name, sidecar string, annotations map[string]string) string {
	t.Helper()
	var ann strings.Builder
	for k, v := range annotations {
		fmt.Fprintf(&ann, "    %s: %q\n", k, v)
	}
	containers := "  - name: app\n    image: app\n"
	if sidecar != "" {
		containers += "  - name: " + sidecar + "\n    image: proxy\n"
	}
	annBlock := ""
	if ann.Len() > 0 {
		annBlock = "  annotations:\n" + ann.String()
	}
	e.cp.Apply(t, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n%sspec:\n  containers:\n%s",
		name, namespace, annBlock, containers))
	t.Cleanup(func() { e.cp.TryKubectl("delete", "pod", "-n", namespace, name, "--wait=false") })
	return strings.TrimSpace(e.cp.Kubectl(t, "get", "pod", "-n", namespace, name, "-o", "jsonpath={.metadata.uid}"))
}

// listen serves the proxy's two ports and an application port in the
// pod, so a probe says whether it was redirected.
func (s *sandbox) listen(t testing.TB, appPorts ...uint16) {
	t.Helper()
	s.ns.Serve(t, netip.MustParseAddrPort("0.0.0.0:15001"), "proxy-out")
	s.ns.Serve(t, netip.MustParseAddrPort("0.0.0.0:15003"), "proxy-in")
	for _, p := range appPorts {
		s.ns.Serve(t, netip.AddrPortFrom(netip.IPv4Unspecified(), p), "app")
	}
}

// probe connects from the netns (as uid, when not 0) and returns the
// listener's answer, failing the test when nothing answers.
func (s *sandbox) probe(t testing.TB, to netip.AddrPort, uid int) string {
	t.Helper()
	got, err := s.ns.Probe(to, uid)
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

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
