package cluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// HoldNode takes the machine-wide node lock that StartNode, BringUpNode and
// TearDownNode take, waiting for a test or another run that holds it, so
// that a caller's steps on a running node (make demo) do not interleave
// with a test's node. It nests with those calls in this process.
func HoldNode(logf func(string, ...any)) (unlock func(), err error) { return lockNode(logf) }

// RunningNode returns the node an earlier BringUpNode (localnode up, make
// demo) left on this machine, when every one of its processes still runs
// and its API server and node are Ready; otherwise why not. Hold the node
// (HoldNode) while using the answer.
func RunningNode() (*Node, error) {
	for _, name := range stopOrder {
		if d := adoptPidfile(filepath.Join(NodeStateDir, name)); d == nil || d.exited() {
			return nil, fmt.Errorf("no %s running", strings.TrimSuffix(filepath.Base(name), ".pid"))
		}
	}
	bins, err := EnsureBinaries()
	if err != nil {
		return nil, fmt.Errorf("building binaries: %w", err)
	}
	dir := filepath.Join(NodeStateDir, "cp")
	pkiDir := filepath.Join(dir, "pki")
	cp := &ControlPlane{AdminKubeconfig: filepath.Join(dir, "admin.kubeconfig"), CAFile: filepath.Join(pkiDir, "ca.crt"), Dir: dir,
		Server: "https://" + net.JoinHostPort(nodeIP.String(), strconv.Itoa(nodeAPIPort)), bins: bins,
		admin: kubeCred{user: "admin", certFile: filepath.Join(pkiDir, "admin.crt"), keyFile: filepath.Join(pkiDir, "admin.key")},
		logf:  func(string, ...any) {}}
	client, err := cp.adminHTTPClient()
	if err != nil {
		return nil, err
	}
	if err := httpOK(client, cp.Server+"/readyz"); err != nil {
		return nil, fmt.Errorf("API server not ready: %w", err)
	}
	var node struct {
		Status struct {
			Conditions []struct{ Type, Status string }
		}
	}
	if err := getJSON(client, cp.Server+"/api/v1/nodes/"+NodeName, &node); err != nil {
		return nil, err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == "Ready" && c.Status == "True" {
			return &Node{ControlPlane: cp, Name: NodeName, IP: nodeIP.String(), PodCIDR: podCIDR, CNIBinDir: CNIBinDir,
				CNIConfFile: CNIConfFile, ContainerdAddress: containerdAddress}, nil
		}
	}
	return nil, fmt.Errorf("node %s not Ready", NodeName)
}
