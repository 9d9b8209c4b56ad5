package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// fakeClock moves only when told; each After call is announced on waits.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	waits   chan time.Time // the deadline of each After
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0, waits: make(chan time.Time, 16)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := waiter{c.now.Add(d), make(chan time.Time, 1)}
	if d <= 0 {
		w.ch <- c.now
	} else {
		c.waiters = append(c.waiters, w)
	}
	c.waits <- w.at
	return w.ch
}

// set moves the clock to t and fires the waiters due by then.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
		} else {
			w.ch <- t
		}
	}
	c.waiters = kept
}

// TestRotatorRenewsAtTwoThirds runs the renewal loop on a fake clock and a
// real TLS server: nothing is renewed before two thirds of the lifetime,
// a handshake after the renewal gets the new certificate from the same
// CA, and a connection opened before keeps working.
func TestRotatorRenewsAtTwoThirds(t *testing.T) {
	ca := newCA(t, CALifetime)
	clock := newFakeClock()
	r, err := NewRotator(ca, names, 24*time.Hour, clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first := r.Current()
	if want := first.NotBefore.Add(first.NotAfter.Sub(first.NotBefore) * 2 / 3); !r.RenewAt().Equal(want) || !r.RenewAt().Before(t0.Add(16*time.Hour+time.Second)) {
		t.Fatalf("RenewAt %v, want two thirds into %v..%v", r.RenewAt(), first.NotBefore, first.NotAfter)
	}
	addr := serveTLS(t, r)
	old := dial(t, ca, addr)
	defer old.Close()
	if serial(old) != first.SerialNumber.String() {
		t.Fatal("the first handshake did not get the first certificate")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	if at := <-clock.waits; !at.Equal(r.RenewAt()) {
		t.Fatalf("the loop waits until %v, want %v", at, r.RenewAt())
	}
	clock.set(r.RenewAt().Add(-time.Second))
	if c := dial(t, ca, addr); serial(c) != first.SerialNumber.String() {
		t.Error("renewed before two thirds of the lifetime")
	} else {
		c.Close()
	}
	renewedAt := r.RenewAt()
	clock.set(renewedAt)
	next := <-clock.waits // the loop renewed and waits for the next renewal
	second := r.Current()
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 || !next.Equal(r.RenewAt()) || !second.NotBefore.Equal(renewedAt.Add(-backdate)) {
		t.Fatalf("after the renewal: serial %v (was %v), next wait %v, RenewAt %v", second.SerialNumber, first.SerialNumber, next, r.RenewAt())
	}
	c := dial(t, ca, addr)
	defer c.Close()
	if serial(c) != second.SerialNumber.String() {
		t.Error("a new handshake did not get the renewed certificate")
	}
	if _, err := old.Write([]byte("x")); err != nil {
		t.Errorf("the connection opened before the renewal broke: %v", err)
	}
	cancel()
	<-done
}

func serveTLS(t *testing.T, r *Rotator) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes with addr trusting only ca, for the Service's name.
func dial(t *testing.T, ca *Authority, addr string) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	// The fake clock's time is the server's; the client checks validity
	// at that time too.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, ServerName: "mesh-cni-webhook.mesh-cni.svc", Time: func() time.Time { return t0.Add(20 * time.Hour) }})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	return c
}

func serial(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
