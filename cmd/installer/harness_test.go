package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
)

// installerBin is the real installer, built once by TestMain.
var installerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "installer-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	installerBin = filepath.Join(dir, "installer")
	build := exec.Command("go", "build", "-o", installerBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the installer: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is a fake node: the host dirs the DaemonSet mounts, in a temp dir.
type node struct {
	root, bin, netd, run, sa, source string
	// sock is the node agent's socket, in the run dir.
	sock string
	port int
	// api is the node's fake API server; apiHost and apiPort are the API
	// server the installer is given (the fake's unless a test changes
	// them) and ca verifies it.
	api              *fakeAPI
	apiHost, apiPort string
	ca               []byte
}

// nodeName is the node name every test installer is given.
const nodeName = "test-node"

func newNode(t *testing.T, netdFrom string) *node {
	t.Helper()
	root := t.TempDir()
	n := &node{
		root: root, bin: filepath.Join(root, "opt/cni/bin"), netd: filepath.Join(root, "etc/cni/net.d"),
		run: filepath.Join(root, "var/run/mesh-cni"), sa: filepath.Join(root, "sa"), source: filepath.Join(root, "image/mesh-cni"),
	}
	n.sock = filepath.Join(n.run, "agent.sock")
	n.api = startFakeAPI(t)
	n.apiHost, n.apiPort = n.api.hostPort()
	n.ca = n.api.ca
	for _, d := range []string{n.bin, n.netd, filepath.Dir(n.source)} {
		must(t, os.MkdirAll(d, 0o755))
	}
	payload := make([]byte, 1<<20)
	_, err := rand.Read(payload)
	must(t, err)
	must(t, os.WriteFile(n.source, payload, 0o755))
	if netdFrom != "" {
		entries, err := os.ReadDir(netdFrom)
		must(t, err)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(netdFrom, e.Name()))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(n.netd, e.Name()), data, 0o644))
		}
	}
	n.rotateToken(t, "token-one")
	n.port = freePort(t)
	return n
}

// rotateToken swaps the service account files the way kubelet's atomic
// writer does: a new timestamped dir, then a rename of the ..data link.
func (n *node) rotateToken(t *testing.T, token string) {
	t.Helper()
	n.rotate(t, token, n.ca)
}

// rotate is rotateToken with a CA of the caller's.
func (n *node) rotate(t *testing.T, token string, ca []byte) {
	t.Helper()
	ts := fmt.Sprintf("..%d", time.Now().UnixNano())
	must(t, os.MkdirAll(filepath.Join(n.sa, ts), 0o755))
	must(t, os.WriteFile(filepath.Join(n.sa, ts, "token"), []byte(token), 0o644))
	must(t, os.WriteFile(filepath.Join(n.sa, ts, "ca.crt"), ca, 0o644))
	old, _ := os.Readlink(filepath.Join(n.sa, "..data"))
	must(t, os.Symlink(ts, filepath.Join(n.sa, "..data_tmp")))
	must(t, os.Rename(filepath.Join(n.sa, "..data_tmp"), filepath.Join(n.sa, "..data")))
	for _, f := range []string{"token", "ca.crt"} {
		if _, err := os.Lstat(filepath.Join(n.sa, f)); os.IsNotExist(err) {
			must(t, os.Symlink(filepath.Join("..data", f), filepath.Join(n.sa, f)))
		}
	}
	if old != "" {
		must(t, os.RemoveAll(filepath.Join(n.sa, old)))
	}
}

func (n *node) args(extra ...string) []string {
	return append([]string{
		"--plugin-source=" + n.source, "--cni-bin-dirs=" + n.bin, "--cni-conf-dir=" + n.netd,
		"--run-dir=" + n.run, "--service-account-dir=" + n.sa, "--node-name=" + nodeName,
		fmt.Sprintf("--listen-address=127.0.0.1:%d", n.port), "--log-level=debug",
	}, extra...)
}

// proc is a running installer.
type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

func (n *node) start(t *testing.T, extra ...string) *proc {
	t.Helper()
	return n.startWatched(t, nil, extra...)
}

// startWatched is start with watch seeing each write the installer makes
// to its stderr (a log line, or a few) before it is kept.
func (n *node) startWatched(t *testing.T, watch func(p *proc, logged []byte), extra ...string) *proc {
	t.Helper()
	cmd := n.command(extra...)
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.logs
	if watch != nil {
		cmd.Stderr = watchedWriter{p, watch}
	}
	must(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("installer logs:\n%s", p.logs.String())
		}
	})
	return p
}

// command is the installer with the node's flags and the API server in
// its environment, as Kubernetes sets it in a pod.
func (n *node) command(extra ...string) *exec.Cmd {
	cmd := exec.Command(installerBin, n.args(extra...)...)
	cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST="+n.apiHost, "KUBERNETES_SERVICE_PORT="+n.apiPort)
	return cmd
}

// stop sends sig and waits for the process to exit; it returns the exit code.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	must(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		must(t, err)
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("installer did not exit within 30s of %v", sig)
		return -1
	}
}

// get fetches a path from the installer's health server.
func (n *node) get(path string) (int, string) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", n.port, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping asks the node agent on the socket, as the plugin does.
func (n *node) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := agent.Dial(ctx, n.sock)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Ping(ctx)
}

func (n *node) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 10*time.Second, "/readyz returns 200", func() bool { code, _ := n.get("/readyz"); return code == 200 })
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	return string(data)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// watchedWriter hands each write to watch, then keeps it in the logs. The
// writes come from exec's copying goroutine, which starts after the
// process has: p.cmd.Process is set.
type watchedWriter struct {
	p     *proc
	watch func(p *proc, logged []byte)
}

func (w watchedWriter) Write(b []byte) (int, error) {
	w.watch(w.p, b)
	return w.p.logs.Write(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) has(sub string) bool { return strings.Contains(s.String(), sub) }

// inOrder fails the test unless the logs hold first and, after it, then.
func (p *proc) inOrder(t *testing.T, first, then string) {
	t.Helper()
	logs := p.logs.String()
	i, j := strings.Index(logs, first), strings.LastIndex(logs, then)
	if i < 0 || j < 0 || j < i {
		t.Errorf("logs do not hold %s (at %d) before %s (at %d)", first, i, then, j)
	}
}
