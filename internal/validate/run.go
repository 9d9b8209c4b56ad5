package validate

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/origdst"
)

// ErrNotRedirected is Run's error when no connection of the probe was
// redirected within its bound.
var ErrNotRedirected = errors.New("the pod's outbound TCP is not redirected: its sandbox has no mesh-cni rules")

// retryPause spaces the dials: rules are in place before any container of
// the pod starts, so a retry only covers a slow first connection.
const retryPause = 50 * time.Millisecond

// tokenSize is the random token's length: the listener takes a connection
// for the probe's only when it carries the token.
const tokenSize = 16

// Run listens on p.Listen and dials p.Dial until a connection with its
// token arrives redirected from p.Dial, or until bound has passed
// (ErrNotRedirected). The sockets are made on the calling thread, so a
// caller that entered a network namespace or changed its uid on a locked
// thread probes from there.
func Run(ctx context.Context, p Probe, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(p.Listen))
	if err != nil {
		return fmt.Errorf("listening on %s, where the rules redirect to: %w", p.Listen, err)
	}
	defer l.Close()
	token := make([]byte, tokenSize)
	rand.Read(token)
	got := make(chan error, 1)
	go func() { got <- accept(l, p, token) }()
	var last error
	for {
		if last = dial(ctx, p, token); last == nil {
			select {
			case err := <-got:
				return err
			case <-ctx.Done():
				return fmt.Errorf("%w (a connection to %s went through but never reached the listener)", ErrNotRedirected, p.Dial)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (dialing %s for %s: %v)", ErrNotRedirected, p.Dial, bound, last)
		case <-time.After(retryPause):
		}
	}
}

// dial connects to p.Dial and sends the token.
func dial(ctx context.Context, p Probe, token []byte) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", p.Dial.String())
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write(token)
	return err
}

// accept waits for the connection that carries the token, and checks that
// conntrack says it was made to p.Dial. Other connections (nothing else
// should dial a port no one listens on yet) are dropped.
func accept(l *net.TCPListener, p Probe, token []byte) error {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return err
		}
		c.SetDeadline(time.Now().Add(retryPause * 10))
		buf := make([]byte, tokenSize)
		_, rerr := io.ReadFull(c, buf)
		dst, derr := origdst.Of(c)
		c.Close()
		if rerr != nil || !bytes.Equal(buf, token) {
			continue
		}
		if derr != nil {
			return fmt.Errorf("%w (reading the probe's original destination: %v)", ErrNotRedirected, derr)
		}
		if dst != p.Dial {
			return fmt.Errorf("%w (the probe reached %s but its original destination is %s, not %s)", ErrNotRedirected, p.Listen, dst, p.Dial)
		}
		return nil
	}
}
