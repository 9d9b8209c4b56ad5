package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Clock is the time the rotator reads and waits on; tests move a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system's clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// retryAfter is the pause after a failed renewal: issuing needs no API
// call, so a failure is rare and another try soon is cheap.
const retryAfter = time.Minute

// Rotator holds the serving certificate a TLS server hands out and
// replaces it at two thirds of its life. Connections already open keep the
// certificate they started with; every new handshake gets the newest.
type Rotator struct {
	ca       *Authority
	names    []string
	lifetime time.Duration
	clock    Clock
	log      *slog.Logger
	current  atomic.Pointer[tls.Certificate]
}

// NewRotator issues the first serving certificate for names.
func NewRotator(ca *Authority, names []string, lifetime time.Duration, clock Clock, log *slog.Logger) (*Rotator, error) {
	if lifetime <= 0 {
		return nil, fmt.Errorf("serving certificate lifetime %s: must be positive", lifetime)
	}
	r := &Rotator{ca: ca, names: names, lifetime: lifetime, clock: clock, log: log}
	if err := r.Renew(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// Current is the serving certificate handed out now.
func (r *Rotator) Current() *x509.Certificate { return r.current.Load().Leaf }

// RenewAt is when the current certificate is due for renewal: two thirds
// into its validity, so that a renewal that fails has a third of it left
// for retries.
func (r *Rotator) RenewAt() time.Time {
	leaf := r.Current()
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
}

// Renew issues a new serving certificate now and hands it out from the
// next handshake on.
func (r *Rotator) Renew() error {
	cert, err := r.ca.Issue(r.clock.Now(), r.lifetime, r.names)
	if err != nil {
		return fmt.Errorf("issuing the serving certificate: %w", err)
	}
	r.current.Store(cert)
	r.log.Info("serving certificate issued", "serial", cert.Leaf.SerialNumber.Text(16),
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "names", r.names)
	return nil
}

// Run renews the certificate whenever it is due until ctx ends.
func (r *Rotator) Run(ctx context.Context) {
	wait := r.RenewAt().Sub(r.clock.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(wait):
		}
		if err := r.Renew(); err != nil {
			r.log.Error("cannot renew the serving certificate; the current one is served until it expires", "error", err.Error(),
				"not_after", r.Current().NotAfter.UTC().Format(time.RFC3339))
			wait = retryAfter
			continue
		}
		wait = r.RenewAt().Sub(r.clock.Now())
	}
}
