package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
)

// replica is one webhook server run by the test on its own listener.
type replica struct {
	*Server
	ln *killable
	// stop ends it as SIGTERM does: admissions under way finish.
	stop func()
	// kill ends it as SIGKILL does: the listener and every connection
	// closed at once, whatever is under way.
	kill func()
}

// start runs a replica on ln with sa's credentials; answered, when not
// nil, is called after each admission it answers.
func start(t *testing.T, sa account, ln net.Listener, logs io.Writer, answered func()) *replica {
	t.Helper()
	cfg, err := Parse([]string{"--namespace", "mesh-cni", "--service-account-dir", sa.dir, "--extra-names", "127.0.0.1",
		"--validator-image", testValidatorImage, "--kubernetes-service-host", sa.host, "--kubernetes-service-port", sa.port}, func(string) string { return "" }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.answered = answered
	k := &killable{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, k) }()
	var once sync.Once
	r := &replica{Server: s, ln: k}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	r.kill = func() {
		once.Do(func() {
			k.kill()
			cancel()
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Errorf("Run after the kill: %v, want the listener closed", err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// killable is a listener that can close, with itself, every connection it
// accepted.
type killable struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

// Accept keeps the connection for kill.
func (k *killable) Accept() (net.Conn, error) {
	c, err := k.Listener.Accept()
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		c.Close()
		return nil, net.ErrClosed
	}
	k.conns = append(k.conns, c)
	return c, nil
}

func (k *killable) kill() {
	k.mu.Lock()
	k.dead = true
	conns := k.conns
	k.mu.Unlock()
	k.Listener.Close()
	for _, c := range conns {
		c.Close()
	}
}

// balancer forwards each TCP connection to the next of its backends, as
// the Service in front of the replicas does: the API server's url
// clientConfig names one address.
type balancer struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	next     int
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	b := &balancer{ln: listen(t), backends: backends}
	t.Cleanup(func() { b.ln.Close() })
	go func() {
		for {
			c, err := b.ln.Accept()
			if err != nil {
				return
			}
			go b.forward(c)
		}
	}()
	return b
}

// use replaces the backends for the connections that follow.
func (b *balancer) use(backends ...string) {
	b.mu.Lock()
	b.backends, b.next = backends, 0
	b.mu.Unlock()
}

// forward copies both ways until either side ends, then closes both: a
// backend that is gone (refused, or its connection closed) shows to the
// client as its connection closed.
func (b *balancer) forward(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	addr := b.backends[b.next%len(b.backends)]
	b.next++
	b.mu.Unlock()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(up, c)
		up.Close()
		c.Close()
	}()
	io.Copy(c, up)
}
