// Package cluster starts real Kubernetes pieces on this machine for the
// integration and end-to-end suites: an etcd + kube-apiserver control plane
// (StartControlPlane) and, on top of it, a single node with containerd, kubelet,
// kube-proxy, kube-controller-manager and kube-scheduler (StartNode).
//
// Binaries come from test/tools/build.sh, which builds them once into
// $MESH_CNI_CACHE (default ~/.cache/mesh-cni-e2e). A cold build takes 10+
// minutes, longer than go test's default timeout: run test/tools/build.sh first.
//
// Everything runs as local processes; nothing is pulled from a registry and the
// only addresses used are loopback and those this package assigns to bridges it
// creates. Failures to start are test failures (t.Fatal with the daemon's log
// tail), never skips.
package cluster
