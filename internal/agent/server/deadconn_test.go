package server

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// TestStoreSilentConnectionLoss proves that a watch whose connection dies
// without a FIN or RST (a NAT or load-balancer entry dropped, a peer that
// vanished) stops answering from the cache: the HTTP/2 pings of the
// agent's API client find the connection dead, and the reflector lists
// again on a new one. Without them, the cache would go on answering the
// pod as it was for the rest of the watch's timeout (5 to 10 minutes),
// and a pod created meanwhile would get stale mesh settings.
//
// The agent reaches the API through a TCP relay; the relay freezes the
// connections it carries - keeps them open and forwards nothing more in
// either direction - while new connections pass, as after a network
// failure that only lost state for old ones.
func TestStoreSilentConnectionLoss(t *testing.T) {
	t.Parallel()
	cp := cluster.StartControlPlane(t)
	cp.Kubectl(t, "create", "namespace", "demo")
	cp.Apply(t, podYAML("web", node))
	cfg, err := kube.LoadKubeconfig(cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	server, err := url.Parse(cfg.Server)
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, server.Host)
	server.Host = r.addr
	cfg.Server = server.String()
	s := startStoreWith(t, kube.NewClient(cfg), time.Hour)
	ctx := context.Background()

	eventually(t, "pod watch live through the relay", func() error { return liveErr(s.pods, true) })
	r.freeze()
	frozenAt := time.Now()
	cp.Kubectl(t, "annotate", "pod", "web", "-n", "demo", "step=after-freeze")

	// The pings' bound (15 s without a frame, then 10 s for the answer)
	// and a relist: well inside a minute. A watch that stayed "live" on the
	// dead connection answers the old pod until this fails.
	deadline := frozenAt.Add(time.Minute)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		p, err := s.GetPod(rctx, "demo", "web", "")
		cancel()
		if err == nil && p.Metadata.Annotations["step"] == "after-freeze" {
			t.Logf("the update was answered %s after the connection froze", time.Since(frozenAt).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the API connection went silent, GetPod = %+v, %v: the cache still answers from the dead watch", p, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.accepted.Load() < 2 {
		t.Errorf("the relay accepted %d connections, want a new one after the freeze", r.accepted.Load())
	}
}

// relay forwards TCP connections on loopback to target. After freeze, the
// connections accepted before it forward nothing more, and stay open.
type relay struct {
	addr     string
	accepted atomic.Int64
	mu       sync.Mutex
	// frozen is closed by freeze; connections accepted later get a new one.
	frozen chan struct{}
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), frozen: make(chan struct{})}
	var conns sync.WaitGroup
	var open []net.Conn
	var openMu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		openMu.Lock()
		for _, c := range open {
			c.Close()
		}
		openMu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			r.accepted.Add(1)
			openMu.Lock()
			open = append(open, in, out)
			openMu.Unlock()
			r.mu.Lock()
			frozen := r.frozen
			r.mu.Unlock()
			conns.Add(2)
			go pipe(&conns, out, in, frozen)
			go pipe(&conns, in, out, frozen)
		}
	}()
	return r
}

// freeze stops every connection open now.
func (r *relay) freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.frozen)
	r.frozen = make(chan struct{})
}

// pipe copies src to dst until either closes or frozen is; from then on it
// forwards nothing, and the connection stays open, silent, until the peer
// or the test's cleanup closes it.
func pipe(wg *sync.WaitGroup, dst, src net.Conn, frozen <-chan struct{}) {
	defer wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			// Swallow whatever still arrives, answer nothing.
			_, _ = io.Copy(io.Discard, src)
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
