package cnirun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/mesh-cni/mesh-cni/test/netns"
)

// Pod names the pod a sandbox belongs to, as the runtime passes it in
// CNI_ARGS.
type Pod struct {
	Namespace, Name string
	// UID may be empty (then K8S_POD_UID is passed empty, as some
	// runtimes do).
	UID string
}

// Sandbox is one pod sandbox: a network namespace of its own (loopback up,
// nothing else until ADD) and the runtime's view of it.
type Sandbox struct {
	// NS is the sandbox's network namespace.
	NS *netns.NS
	// Runtime is what libcni passes: container ID, netns, eth0, CNI_ARGS.
	Runtime *libcni.RuntimeConf
	// Result is what the last successful ADD returned.
	Result types.Result
	// IP is the pod's address from Result.
	IP netip.Addr

	n      *Network
	added  bool
	closed bool
	nsGone bool
}

// NewSandbox makes the sandbox's netns and the CNI_ARGS containerd sets
// (IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME,
// K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID). Close, also run at the end of
// the test, DELs it and deletes the netns.
func (n *Network) NewSandbox(t testing.TB, pod Pod) *Sandbox {
	t.Helper()
	s, err := n.OpenSandbox(pod, fmt.Sprintf("mcr-%d-%d", os.Getpid(), seq.Add(1)))
	if err != nil {
		t.Fatalf("cnirun: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("cnirun: %v", err)
		}
	})
	return s
}

// OpenSandbox is NewSandbox with the netns at /run/netns/<nsName>, which
// must not exist, for callers that run sandboxes on goroutines of their
// own: it returns its errors, and only Close removes what it made. A
// runtime that reuses a netns path makes each sandbox of it this way.
func (n *Network) OpenSandbox(pod Pod, nsName string) (*Sandbox, error) {
	if out, err := exec.Command("ip", "netns", "add", nsName).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", nsName, err, out)
	}
	id := fmt.Sprintf("cnirun%d%08d", os.Getpid(), seq.Add(1))
	s := &Sandbox{n: n, NS: &netns.NS{Name: nsName, Path: filepath.Join("/run/netns", nsName)}, Runtime: &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       filepath.Join("/var/run/netns", nsName),
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", id},
			{"K8S_POD_UID", pod.UID},
		},
	}}
	if out, err := exec.Command("ip", "-n", nsName, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return s, errors.Join(fmt.Errorf("loopback up in %s: %v: %s", nsName, err, out), s.Close())
	}
	return s, nil
}

// Add runs the chain's ADD through libcni, with mesh-cni last or without
// it, and keeps the result.
func (s *Sandbox) Add(ctx context.Context, withMesh bool) error {
	s.added = true
	res, err := s.n.cni.AddNetworkList(ctx, s.n.Chain(withMesh), s.Runtime)
	if err != nil {
		return fmt.Errorf("ADD %s in %s: %w", s.Runtime.ContainerID, s.NS.Name, err)
	}
	return s.keep(res)
}

// AddMesh runs mesh-cni's ADD alone, with the Result of an earlier
// Add(ctx, false) as its prevResult: exactly the call libcni makes as the
// last step of the chain with mesh-cni, without the steps before it.
func (s *Sandbox) AddMesh(ctx context.Context) error {
	if s.Result == nil {
		return errors.New("cnirun: AddMesh before the chain's ADD")
	}
	list := s.n.Chain(true)
	entry := list.Plugins[len(list.Plugins)-1]
	conf, err := s.meshConf(entry.Bytes, list.CNIVersion)
	if err != nil {
		return err
	}
	path, err := invoke.FindInPath(entry.Network.Type, []string{s.n.opts.BinDir})
	if err != nil {
		return fmt.Errorf("cnirun: %w", err)
	}
	args := &invoke.Args{Command: "ADD", ContainerID: s.Runtime.ContainerID, NetNS: s.Runtime.NetNS,
		IfName: s.Runtime.IfName, PluginArgs: s.Runtime.Args, Path: s.n.opts.BinDir}
	res, err := invoke.ExecPluginWithResult(ctx, path, conf, args, s.n.Recorder)
	if err != nil {
		return fmt.Errorf("mesh-cni ADD %s in %s: %w", s.Runtime.ContainerID, s.NS.Name, err)
	}
	return s.keep(res)
}

// meshConf is mesh-cni's entry as libcni hands it over: the list's name
// and version injected, the previous result attached.
func (s *Sandbox) meshConf(entry []byte, version string) ([]byte, error) {
	var conf map[string]any
	if err := json.Unmarshal(entry, &conf); err != nil {
		return nil, fmt.Errorf("cnirun: mesh-cni entry: %w", err)
	}
	prev, err := s.Result.GetAsVersion(version)
	if err != nil {
		return nil, fmt.Errorf("cnirun: previous result as %s: %w", version, err)
	}
	conf["name"], conf["cniVersion"], conf["prevResult"] = s.n.Name, version, prev
	return json.Marshal(conf)
}

func (s *Sandbox) keep(res types.Result) error {
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("cnirun: result of %s: %w", s.Runtime.ContainerID, err)
	}
	if len(r.IPs) == 0 {
		return fmt.Errorf("cnirun: result of %s has no IP", s.Runtime.ContainerID)
	}
	s.Result = res
	s.IP, _ = netip.AddrFromSlice(r.IPs[0].Address.IP)
	s.IP = s.IP.Unmap()
	return nil
}

// Check runs the chain's CHECK (with mesh-cni).
func (s *Sandbox) Check(ctx context.Context) error {
	return s.n.cni.CheckNetworkList(ctx, s.n.Chain(true), s.Runtime)
}

// Del runs the chain's DEL (with mesh-cni), as often as it is called:
// runtimes repeat DEL, also after the netns has gone.
func (s *Sandbox) Del(ctx context.Context) error {
	if err := s.n.cni.DelNetworkList(ctx, s.n.Chain(true), s.Runtime); err != nil {
		return fmt.Errorf("DEL %s: %w", s.Runtime.ContainerID, err)
	}
	return nil
}

// RemoveNetns deletes the sandbox's netns, as a runtime does before a late
// DEL comes; Close then deletes it no more.
func (s *Sandbox) RemoveNetns() error {
	if s.nsGone {
		return nil
	}
	s.nsGone = true
	if out, err := exec.Command("ip", "netns", "del", s.NS.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", s.NS.Name, err, out)
	}
	return nil
}

// Close DELs the sandbox (chain with mesh-cni, which releases the address)
// and deletes its netns; it does nothing the second time.
func (s *Sandbox) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.added {
		errs = append(errs, s.Del(context.Background()))
	}
	return errors.Join(append(errs, s.RemoveNetns())...)
}
