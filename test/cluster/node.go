package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Node is a single-node Kubernetes cluster on this machine: a control plane
// (bound to the node IP, port 6443) plus kube-controller-manager,
// kube-scheduler, containerd, kubelet and kube-proxy (iptables mode). Pods get
// addresses from the bridge CNI plugin; images PauseImage and AppImage are
// loaded, and pods must use imagePullPolicy: Never.
type Node struct {
	*ControlPlane
	// Name is the node's name (NodeName).
	Name string
	// IP is the node's InternalIP, on a bridge StartNode made.
	IP string
	// PodCIDR is the range the bridge plugin assigns pod addresses from.
	PodCIDR string
	// CNIBinDir is containerd's CNI plugin directory, always the host's
	// /opt/cni/bin (the constant CNIBinDir): the installer under test puts
	// mesh-cni here.
	CNIBinDir string
	// CNIConfFile is the primary conflist in CNIConfDir.
	CNIConfFile string
	// ContainerdAddress is containerd's socket (for ctr --address).
	ContainerdAddress string

	daemons []*daemon
}

// StartNode brings up a Node for the test and tears it down (leaving the
// machine as it was) when the test ends. Only one node runs per machine: a
// second StartNode, in any process, waits for the first to finish; leftovers of
// a crashed run (or of `localnode up`) are torn down first. It fails the test,
// with the log tail of the daemon at fault, if the node does not come up.
func StartNode(t testing.TB) *Node {
	t.Helper()
	bins, err := EnsureBinaries()
	if err != nil {
		t.Fatalf("building test binaries: %v", err)
	}
	unlock, err := lockNode(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	n, err := startNode(bins, false, t.Logf)
	t.Cleanup(func() {
		if t.Failed() && n != nil {
			n.logTails(t.Logf)
		}
		if err := TearDownNode(t.Logf); err != nil {
			t.Errorf("tearing down node: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	return n
}

// BringUpNode is StartNode for people (test/cluster/cmd/localnode): the
// processes outlive the caller until TearDownNode.
func BringUpNode(logf func(string, ...any)) (*Node, error) {
	bins, err := EnsureBinaries()
	if err != nil {
		return nil, fmt.Errorf("building binaries: %w", err)
	}
	unlock, err := lockNode(logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return startNode(bins, true, logf)
}

func startNode(bins Binaries, outlive bool, logf func(string, ...any)) (*Node, error) {
	start := time.Now()
	if err := tearDown(logf); err != nil {
		return nil, fmt.Errorf("removing a previous node: %w", err)
	}
	for _, d := range []string{NodeStateDir, nodeRunDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := saveSysctls(filepath.Join(NodeStateDir, "sysctl.saved")); err != nil {
		return nil, err
	}
	if err := setUpNodeNetwork(); err != nil {
		return nil, err
	}
	cp, err := startControlPlane(bins, cpConfig{dir: filepath.Join(NodeStateDir, "cp"), bindIP: nodeIP, port: nodeAPIPort, outlive: outlive, withControllers: true}, logf)
	if err != nil {
		return nil, err
	}
	n := &Node{ControlPlane: cp, Name: NodeName, IP: nodeIP.String(), PodCIDR: podCIDR, CNIBinDir: CNIBinDir,
		CNIConfFile: CNIConfFile, ContainerdAddress: containerdAddress}
	if err := n.startContainerd(bins, outlive, logf); err != nil {
		return n, err
	}
	if err := n.startKube(bins, outlive); err != nil {
		return n, err
	}
	logf("node %s up in %.1fs; export KUBECONFIG=%s", NodeName, time.Since(start).Seconds(), cp.AdminKubeconfig)
	return n, nil
}

func (n *Node) newDaemon(name string, outlive bool, argv ...string) *daemon {
	d := &daemon{name: name, argv: argv, outlive: outlive,
		logPath: LogPath(name), pidPath: filepath.Join(NodeStateDir, name+".pid")}
	n.daemons = append(n.daemons, d)
	return d
}

// LogPath is where the node's daemon name (containerd, kubelet...) or a
// host process beside it (OSM's injector) logs; the control plane's logs
// are under its own directory.
func LogPath(name string) string {
	return filepath.Join(NodeStateDir, "logs", name+".log")
}

func (n *Node) startContainerd(bins Binaries, outlive bool, logf func(string, ...any)) error {
	if err := placeCNIPlugins(bins.CNIBinDir); err != nil {
		return err
	}
	for marker, dir := range createdDirMarkers {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			// Remember to remove the directory too: it was not there before us.
			if err := writeFiles(map[string]string{filepath.Join(NodeStateDir, marker): ""}); err != nil {
				return err
			}
		}
	}
	cfg := filepath.Join(NodeStateDir, "containerd.toml")
	if err := writeFiles(map[string]string{CNIConfFile: cniConflist(), cfg: containerdConfig()}); err != nil {
		return err
	}
	d := n.newDaemon("containerd", outlive, "/usr/bin/containerd", "--config="+cfg)
	if err := d.start(); err != nil {
		return err
	}
	if err := d.waitUntil(30*time.Second, "to answer", func() error { _, err := n.ctr("version"); return err }); err != nil {
		return err
	}
	tars, err := buildLocalImages(filepath.Join(NodeStateDir, "images"), bins.PauseBin)
	if err != nil {
		return err
	}
	for _, tar := range tars {
		if _, err := n.ctr("images", "import", tar); err != nil {
			return fmt.Errorf("importing image %s: %w", tar, err)
		}
	}
	return nil
}

// ctr runs containerd's ctr against the node's containerd in the CRI namespace.
func (n *Node) ctr(args ...string) (string, error) {
	return run("ctr", append([]string{"--address=" + containerdAddress, "--namespace=k8s.io"}, args...)...)
}

// ImportImage loads a docker-save tarball (see WriteImageTar) into the node's
// containerd, for pods with imagePullPolicy: Never.
func (n *Node) ImportImage(t testing.TB, tarPath string) {
	t.Helper()
	if err := n.ImportImageFile(tarPath); err != nil {
		t.Fatal(err)
	}
}

// ImportImageFile is ImportImage for callers without a test.
func (n *Node) ImportImageFile(tarPath string) error {
	if _, err := n.ctr("images", "import", tarPath); err != nil {
		return fmt.Errorf("importing image %s: %w", tarPath, err)
	}
	return nil
}

func (n *Node) logTails(logf func(string, ...any)) {
	n.ControlPlane.logTails(logf)
	for _, d := range n.daemons {
		logf("--- %s (%s), last lines:\n%s", d.name, d.logPath, fileTail(d.logPath, 30))
	}
}

// waitNodeReady waits for what tests rely on: the node Ready, the default
// ServiceAccount (so pods can be created) and kube-proxy's first sync.
func (n *Node) waitNodeReady(kubelet, kubeProxy, kcm *daemon) error {
	client, err := n.adminHTTPClient()
	if err != nil {
		return err
	}
	err = kubelet.waitUntil(120*time.Second, "node Ready", func() error {
		var node struct {
			Status struct {
				Conditions []struct{ Type, Status, Message string }
			}
		}
		if err := getJSON(client, n.Server+"/api/v1/nodes/"+NodeName, &node); err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == "Ready" && c.Status != "True" {
				return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			} else if c.Type == "Ready" {
				return nil
			}
		}
		return fmt.Errorf("no Ready condition yet")
	})
	if err != nil {
		return err
	}
	if err := kcm.waitUntil(60*time.Second, "default ServiceAccount", func() error {
		return getJSON(client, n.Server+"/api/v1/namespaces/default/serviceaccounts/default", &struct{}{})
	}); err != nil {
		return err
	}
	return kubeProxy.waitUntil(60*time.Second, "healthz", func() error {
		return httpOK(client, "http://127.0.0.1:10256/healthz")
	})
}
