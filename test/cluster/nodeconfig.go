package cluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// Fixed locations of the node: tear-down after a crashed run must find
// everything without any state from that run.
const (
	// NodeStateDir holds the node's PKI, data, configs and logs (logs/*.log).
	NodeStateDir = "/var/lib/mesh-cni-localnode"
	nodeRunDir   = "/run/mesh-cni-localnode" // short paths: shim sockets have a length limit
	// NodeName is the name of the node StartNode registers.
	NodeName = "mesh-cni-node"
	// CNIConfDir is where containerd reads the CNI chain from.
	CNIConfDir = "/etc/cni/net.d"
	// CNIConfFile is the primary (bridge) conflist StartNode writes; the installer
	// under test adds mesh-cni's entry to it.
	CNIConfFile = CNIConfDir + "/10-mesh-cni-localnode.conflist"
	// CNINetworkName is the name of the network in CNIConfFile.
	CNINetworkName = "mesh-cni-podnet"
)

var (
	containerdAddress = filepath.Join(nodeRunDir, "containerd.sock")
	containerdState   = filepath.Join(nodeRunDir, "containerd")
	ipamDir           = filepath.Join(nodeRunDir, "ipam")
	kubeletRoot       = filepath.Join(NodeStateDir, "kubelet")
	// KubeletRoot is the local node's kubelet --root-dir: pods' volumes
	// are under it, as on a node's /var/lib/kubelet.
	KubeletRoot = kubeletRoot
)

// cniConflist is the primary network: the bridge plugin, host-local IPAM and
// routes only to the pod, node and service ranges - no default route in pods.
func cniConflist() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "10.244.0.0/16"}, {"dst": %q}, {"dst": "10.250.0.0/24"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, CNINetworkName, podBridge, ipamDir, podCIDR, podGateway, serviceCIDR)
}

func containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
# containerd's default here is /opt/containerd, which tear-down would have to
# find and remove; under the state dir it goes with everything else.
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # root here lacks CAP_SYS_RESOURCE: runc cannot set oom_score_adj -998, and
  # every sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # our netns mounts under our state dir, so tear-down finds them all
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, filepath.Join(NodeStateDir, "containerd"), containerdState, containerdAddress, filepath.Join(NodeStateDir, "containerd-opt"), PauseImage, CNIBinDir, CNIConfDir)
}

func kubeletConfig(certFile, keyFile, caFile string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
podLogsDir: %s
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
`, containerdAddress, nodeIP, certFile, keyFile, caFile, filepath.Join(NodeStateDir, "pod-logs"))
}

// kubeProxyConfig: NodePorts only on the node IP (never eth0), no
// route_localnet, no conntrack tuning (not permitted here), and masquerade-all
// because pod-to-service-to-pod on one bridge needs it without hairpin NAT.
func kubeProxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %s}
hostnameOverride: %s
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
iptables: {masqueradeAll: true, localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, kubeconfig, NodeName, podCIDR, nodeIP)
}

func writeFiles(files map[string]string) error {
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
