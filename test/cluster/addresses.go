package cluster

import "net"

// Addresses of the cluster. All are private to this machine: the node bridge
// and pod bridge are created by StartNode, and the service range is virtual.
const (
	serviceCIDR = "10.96.0.0/16"
	podCIDR     = "10.244.0.0/24"
	podGateway  = "10.244.0.1"
	// nodeAPIPort is the node's kube-apiserver port, on nodeIP.
	nodeAPIPort = 6443
)

var (
	// serviceAPIIP is the ClusterIP of the kubernetes Service: the first address
	// of serviceCIDR, which the apiserver certificate must name.
	serviceAPIIP = net.IPv4(10, 96, 0, 1)
	// nodeIP is the node's address, on a bridge of its own: kubelet refuses a
	// loopback node IP.
	nodeIP = net.IPv4(10, 250, 0, 1)
)
