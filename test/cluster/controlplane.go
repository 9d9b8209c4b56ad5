package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ControlPlane is a running etcd and kube-apiserver. All fields are read-only.
type ControlPlane struct {
	// AdminKubeconfig is a kubeconfig with cluster-admin (system:masters)
	// client-certificate credentials.
	AdminKubeconfig string
	// Server is the apiserver URL, https://IP:port.
	Server string
	// CAFile is the PEM CA that signed the apiserver's serving certificate.
	CAFile string
	// Dir holds the PKI, etcd data, kubeconfigs and logs (logs/*.log).
	Dir string

	bins      Binaries
	pki       *pki
	etcd      *daemon
	etcdURL   string
	apiserver *daemon
	admin     kubeCred
	logf      func(format string, args ...any)
}

// cpConfig is what StartNode changes about a control plane.
type cpConfig struct {
	dir      string
	bindIP   net.IP // default 127.0.0.1
	port     int    // 0: a free port
	extraIPs []net.IP
	outlive  bool
	// withControllers: kube-controller-manager will run (StartNode).
	withControllers bool
}

// StartControlPlane starts etcd and kube-apiserver on free loopback ports with a
// fresh PKI under t.TempDir(), waits until /readyz answers, and stops both when
// the test ends. There is no controller manager: pods can be created (they stay
// Pending; ServiceAccount admission is off since no default ServiceAccounts
// appear) and ServiceAccount tokens come only from the TokenRequest API. It fails the test, with the daemons' log tails, if anything
// cannot start. A warm start takes a few seconds.
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	bins, err := EnsureBinaries()
	if err != nil {
		t.Fatalf("building test binaries: %v", err)
	}
	cp, err := startControlPlane(bins, cpConfig{dir: t.TempDir()}, t.Logf)
	if cp != nil {
		t.Cleanup(func() {
			if t.Failed() {
				cp.logTails(t.Logf)
			}
			cp.shutdown()
		})
	}
	if err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	return cp
}

// startControlPlane retries when a port it picked was taken by someone else
// before etcd or the apiserver bound it (tests start control planes in
// parallel); every other failure is final.
func startControlPlane(bins Binaries, cfg cpConfig, logf func(string, ...any)) (*ControlPlane, error) {
	for attempt := 1; ; attempt++ {
		cp, err := startControlPlaneOnce(bins, cfg, logf)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return cp, err
		}
		logf("control plane attempt %d lost a port race, retrying: %.300s", attempt, err)
		if cp != nil {
			cp.shutdown()
		}
		if err := os.RemoveAll(cfg.dir); err != nil {
			return nil, fmt.Errorf("cleaning %s for a retry: %w", cfg.dir, err)
		}
	}
}

func startControlPlaneOnce(bins Binaries, cfg cpConfig, logf func(string, ...any)) (*ControlPlane, error) {
	start := time.Now()
	if cfg.bindIP == nil {
		cfg.bindIP = net.IPv4(127, 0, 0, 1)
	}
	cp := &ControlPlane{Dir: cfg.dir, CAFile: filepath.Join(cfg.dir, "pki", "ca.crt"), bins: bins, logf: logf}
	var err error
	if cp.pki, err = newPKI(filepath.Join(cfg.dir, "pki")); err != nil {
		return nil, err
	}
	port := cfg.port
	if port == 0 {
		if port, err = freePort(cfg.bindIP); err != nil {
			return nil, err
		}
	}
	cp.Server = "https://" + net.JoinHostPort(cfg.bindIP.String(), strconv.Itoa(port))
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), cfg.bindIP, serviceAPIIP}, cfg.extraIPs...)
	servCert, servKey, err := cp.pki.issue(certSpec{name: "apiserver", cn: "kube-apiserver", server: true, ips: ips,
		dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}})
	if err != nil {
		return nil, err
	}
	kcCert, kcKey, err := cp.pki.issue(certSpec{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	cp.admin.user = "admin"
	if cp.admin.certFile, cp.admin.keyFile, err = cp.pki.issue(certSpec{name: "admin", cn: "admin", orgs: []string{"system:masters"}}); err != nil {
		return nil, err
	}
	cp.AdminKubeconfig = filepath.Join(cfg.dir, "admin.kubeconfig")
	if err := writeKubeconfig(cp.AdminKubeconfig, cp.Server, cp.CAFile, cp.admin); err != nil {
		return nil, err
	}

	etcdClient, err := freePort(net.IPv4(127, 0, 0, 1))
	if err != nil {
		return nil, err
	}
	etcdPeer, err := freePort(net.IPv4(127, 0, 0, 1))
	if err != nil {
		return nil, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	cp.etcdURL = clientURL
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	logs := filepath.Join(cfg.dir, "logs")
	cp.etcd = &daemon{name: "etcd", outlive: cfg.outlive, logPath: filepath.Join(logs, "etcd.log"), pidPath: filepath.Join(cfg.dir, "etcd.pid"),
		argv: []string{"/usr/bin/etcd", "--name=mesh-cni", "--data-dir=" + filepath.Join(cfg.dir, "etcd"),
			"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=mesh-cni=" + peerURL, "--snapshot-count=10000"}}
	if err := cp.startEtcd(); err != nil {
		return cp, err
	}

	p := cp.pki
	args := []string{bins.Kube("kube-apiserver"),
		"--etcd-servers=" + clientURL,
		"--bind-address=" + cfg.bindIP.String(), "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + servCert, "--tls-private-key-file=" + servKey, "--client-ca-file=" + p.caFile,
		"--kubelet-client-certificate=" + kcCert, "--kubelet-client-key=" + kcKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub, "--service-account-signing-key-file=" + p.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
		"--profiling=false"}
	args = append(args, "--advertise-address="+cfg.bindIP.String())
	if !cfg.withControllers {
		// Without kube-controller-manager no namespace gets its default
		// ServiceAccount, and ServiceAccount admission would refuse every pod.
		args = append(args, "--disable-admission-plugins=ServiceAccount")
	}
	if cfg.bindIP.IsLoopback() {
		// The kubernetes Service's endpoint may not be loopback; without a node
		// nobody routes to it anyway.
		args = append(args, "--endpoint-reconciler-type=none")
	}
	cp.apiserver = &daemon{name: "kube-apiserver", outlive: cfg.outlive, argv: args,
		logPath: filepath.Join(logs, "kube-apiserver.log"), pidPath: filepath.Join(cfg.dir, "kube-apiserver.pid")}
	if err := cp.startAPIServer(); err != nil {
		return cp, err
	}
	logf("control plane up in %.1fs: %s (etcd %s), KUBECONFIG=%s", time.Since(start).Seconds(), cp.Server, clientURL, cp.AdminKubeconfig)
	return cp, nil
}

func (cp *ControlPlane) startAPIServer() error {
	if err := cp.apiserver.start(); err != nil {
		return err
	}
	return cp.waitAPIReady(90 * time.Second)
}

// waitAPIReady waits until kube-apiserver's /readyz answers.
func (cp *ControlPlane) waitAPIReady(timeout time.Duration) error {
	client, err := cp.adminHTTPClient()
	if err != nil {
		return err
	}
	return cp.apiserver.waitUntil(timeout, "/readyz", func() error { return httpOK(client, cp.Server+"/readyz") })
}

// Stop stops kube-apiserver (etcd keeps running) and waits until it is gone,
// for tests of what happens while the API is down. Its graceful shutdown
// waits out open watches; a second of it is enough to tell the clients, and
// the rest would only delay the outage a test means to start now.
func (cp *ControlPlane) Stop(t testing.TB) {
	t.Helper()
	if err := cp.apiserver.stop(time.Second); err != nil {
		t.Fatalf("stopping kube-apiserver: %v", err)
	}
}

// Start starts kube-apiserver again after Stop, on the same address with the
// same PKI and data, and waits until /readyz answers.
func (cp *ControlPlane) Start(t testing.TB) {
	t.Helper()
	if !cp.apiserver.exited() {
		t.Fatalf("starting kube-apiserver: already running as pid %d", cp.apiserver.pid)
	}
	if err := cp.startAPIServer(); err != nil {
		t.Fatalf("restarting kube-apiserver: %v", err)
	}
}

func (cp *ControlPlane) startEtcd() error {
	if err := cp.etcd.start(); err != nil {
		return err
	}
	return cp.etcd.waitUntil(30*time.Second, "health", func() error { return httpOK(http.DefaultClient, cp.etcdURL+"/health") })
}

// StopEtcd stops etcd under a running kube-apiserver, for tests of what
// happens while the API answers but cannot read or write.
func (cp *ControlPlane) StopEtcd(t testing.TB) {
	t.Helper()
	if err := cp.etcd.stop(10 * time.Second); err != nil {
		t.Fatalf("stopping etcd: %v", err)
	}
}

// StartEtcd starts etcd again after StopEtcd, with the same data and
// address, and waits until it is healthy and the apiserver /readyz again.
func (cp *ControlPlane) StartEtcd(t testing.TB) {
	t.Helper()
	if !cp.etcd.exited() {
		t.Fatalf("starting etcd: already running as pid %d", cp.etcd.pid)
	}
	if err := cp.startEtcd(); err != nil {
		t.Fatalf("restarting etcd: %v", err)
	}
	if err := cp.waitAPIReady(60 * time.Second); err != nil {
		t.Fatalf("kube-apiserver after etcd restarted: %v", err)
	}
}

// shutdown stops the apiserver before etcd, so it does not spin on etcd errors.
func (cp *ControlPlane) shutdown() {
	for _, d := range []*daemon{cp.apiserver, cp.etcd} {
		if d == nil {
			continue
		}
		if err := d.stop(10 * time.Second); err != nil {
			cp.logf("%v", err)
		}
	}
}

func (cp *ControlPlane) logTails(logf func(string, ...any)) {
	for _, d := range []*daemon{cp.etcd, cp.apiserver} {
		if d != nil {
			logf("--- %s (%s), last lines:\n%s", d.name, d.logPath, fileTail(d.logPath, 30))
		}
	}
}

func (cp *ControlPlane) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(cp.admin.certFile, cp.admin.keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading admin certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cp.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}
