package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// installerResult is item 5's installer part: its memory once it has
// installed everything, serves the node agent and is only watching. The
// agent's cost in production is in these figures, since the DaemonSet
// runs it in the installer's process.
type installerResult struct {
	// rss and hwm are VmRSS and VmHWM (peak) in bytes, idleFor after
	// it became Ready.
	rss, hwm int64
	idleFor  time.Duration
	// readyIn is from exec to /readyz answering 200.
	readyIn time.Duration
	// nodePods are the pods bound to its node (the benchmark's) while it
	// idled: what the agent has to keep if it watches them.
	nodePods int
	// watches are the API watches open at the end of its idle time that
	// were not open before it started (the benchmark's own agent's and
	// the kube-apiserver's were), by resource: its agent's.
	watches map[string]int
}

// installerIdle is how long the installer idles before its RSS is read:
// several of its watch events and one resync-free stretch.
const installerIdle = 10 * time.Second

// measureInstaller runs the installer against a node laid out in a temp
// dir (bin dir, a bridge conflist, run dir, a service-account dir with the
// mesh-cni ServiceAccount's token and the control plane's CA), as
// benchNode, so its agent has that node's pods to serve; it waits until the
// installer is Ready and has idled, and reads its memory from /proc.
func measureInstaller(t *phase, k *kernelEnv) *installerResult {
	root := t.TempDir()
	cred, err := kube.LoadKubeconfig(k.kubeconfig)
	if err != nil {
		t.Fatalf("reading the ServiceAccount's kubeconfig: %v", err)
	}
	server, err := url.Parse(k.cp.Server)
	if err != nil {
		t.Fatalf("the control plane's address %q: %v", k.cp.Server, err)
	}
	bin, netd, run, sa := filepath.Join(root, "opt/cni/bin"), filepath.Join(root, "etc/cni/net.d"), filepath.Join(root, "run"), filepath.Join(root, "sa")
	ca, err := os.ReadFile(k.cp.CAFile)
	if err != nil {
		t.Fatalf("reading the CA: %v", err)
	}
	files := map[string]string{
		filepath.Join(netd, "10-bridge.conflist"): `{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge","bridge":"unused0","ipam":{"type":"host-local","ranges":[[{"subnet":"10.231.200.0/24"}]]}}]}`,
		filepath.Join(sa, "token"):                cred.Token,
		filepath.Join(sa, "ca.crt"):               string(ca),
	}
	for _, d := range []string{bin, netd, run, sa} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("installer node dirs: %v", err)
		}
	}
	for p, data := range files {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatalf("installer node files: %v", err)
		}
	}
	addr := freeLoopbackAddr(t)
	cmd := exec.Command(k.b.installer, "--plugin-source="+k.b.meshCNI, "--cni-bin-dirs="+bin, "--cni-conf-dir="+netd,
		"--run-dir="+run, "--service-account-dir="+sa, "--listen-address="+addr, "--node-name="+benchNode,
		"--kubernetes-service-host="+server.Hostname(), "--kubernetes-service-port="+server.Port())
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	before := k.apiSnapshot(t)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the installer: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	r := &installerResult{idleFor: installerIdle}
	for !ready("http://" + addr + "/readyz") {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("installer not Ready within 30s; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.readyIn = time.Since(start)
	time.Sleep(installerIdle)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading the installer's memory: %v", err)
	}
	r.rss, r.hwm = statusKB(status, "VmRSS:"), statusKB(status, "VmHWM:")
	r.watches = counterDiff(k.apiSnapshot(t).watches, before.watches)
	out := k.cp.Kubectl(t, "get", "pods", "-A", "--field-selector", "spec.nodeName="+benchNode, "-o", "name")
	r.nodePods = len(strings.Fields(out))
	t.Logf("installer Ready in %s, RSS %s (peak %s) after %s idle with %d pods on its node; its watches: %s",
		ms(r.readyIn), mib(r.rss), mib(r.hwm), installerIdle, r.nodePods, watchList(r.watches))
	return r
}

func ready(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// statusKB reads a "Key:   123 kB" line of /proc/PID/status, in bytes.
func statusKB(status []byte, key string) int64 {
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}

func freeLoopbackAddr(t *phase) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
