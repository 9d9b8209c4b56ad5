package cluster

import (
	"fmt"
	"net"
	"path/filepath"
)

// startKube starts the Kubernetes node components, each with a client
// certificate for the identity RBAC's bootstrap policy expects of it.
func (n *Node) startKube(bins Binaries, outlive bool) error {
	p := n.pki
	kubeconfig := func(name, cn string, orgs ...string) (string, error) {
		cert, key, err := p.issue(certSpec{name: name, cn: cn, orgs: orgs})
		if err != nil {
			return "", err
		}
		path := filepath.Join(NodeStateDir, name+".kubeconfig")
		return path, writeKubeconfig(path, n.Server, p.caFile, kubeCred{user: cn, certFile: cert, keyFile: key})
	}
	kcmKC, err := kubeconfig("kube-controller-manager", "system:kube-controller-manager")
	if err != nil {
		return err
	}
	schedKC, err := kubeconfig("kube-scheduler", "system:kube-scheduler")
	if err != nil {
		return err
	}
	proxyKC, err := kubeconfig("kube-proxy", "system:kube-proxy")
	if err != nil {
		return err
	}
	nodeKC, err := kubeconfig("kubelet", "system:node:"+NodeName, "system:nodes")
	if err != nil {
		return err
	}
	servCert, servKey, err := p.issue(certSpec{name: "kubelet-serving", cn: NodeName, server: true, ips: []net.IP{nodeIP}, dns: []string{NodeName}})
	if err != nil {
		return err
	}
	kubeletCfg := filepath.Join(NodeStateDir, "kubelet-config.yaml")
	proxyCfg := filepath.Join(NodeStateDir, "kube-proxy-config.yaml")
	if err := writeFiles(map[string]string{kubeletCfg: kubeletConfig(servCert, servKey, p.caFile), proxyCfg: kubeProxyConfig(proxyKC)}); err != nil {
		return err
	}

	// No HTTPS serving (secure-port 0) and no leader election: nothing probes
	// them, and there is only one of each.
	kcm := n.newDaemon("kube-controller-manager", outlive, bins.Kube("kube-controller-manager"),
		"--kubeconfig="+kcmKC, "--secure-port=0", "--leader-elect=false",
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caFile,
		"--use-service-account-credentials=true", "--service-cluster-ip-range="+serviceCIDR,
		"--cluster-signing-cert-file="+p.caFile, "--cluster-signing-key-file="+filepath.Join(p.dir, "ca.key"),
		"--cluster-name=mesh-cni")
	sched := n.newDaemon("kube-scheduler", outlive, bins.Kube("kube-scheduler"),
		"--kubeconfig="+schedKC, "--secure-port=0", "--leader-elect=false")
	proxy := n.newDaemon("kube-proxy", outlive, bins.Kube("kube-proxy"), "--config="+proxyCfg)
	kubelet := n.newDaemon("kubelet", outlive, bins.Kube("kubelet"),
		"--config="+kubeletCfg, "--kubeconfig="+nodeKC, "--root-dir="+kubeletRoot,
		"--hostname-override="+NodeName, "--node-ip="+nodeIP.String())
	for _, d := range []*daemon{kcm, sched, proxy, kubelet} {
		if err := d.start(); err != nil {
			return fmt.Errorf("starting %s: %w", d.name, err)
		}
	}
	return n.waitNodeReady(kubelet, proxy, kcm)
}
