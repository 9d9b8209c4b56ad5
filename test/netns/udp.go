package netns

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// ServeUDP answers every datagram that reaches addr inside the namespace
// with one datagram, its label, until the test ends: a stand-in for a DNS
// listener, which is what tells a test where a lookup went.
func (n *NS) ServeUDP(t testing.TB, addr netip.AddrPort, label string) {
	t.Helper()
	var c net.PacketConn
	if err := n.Do(func() (err error) {
		c, err = net.ListenPacket("udp", addr.String())
		return err
	}); err != nil {
		t.Fatalf("listen on udp %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(label), from)
		}
	}()
}

// ProbeUDP sends one datagram from inside the namespace to addr, as user
// uid when it is not 0, and returns the label of the listener that
// answered. Nothing listening gives ICMP port unreachable, which reads as
// "connection refused".
func (n *NS) ProbeUDP(addr netip.AddrPort, uid int) (string, error) {
	var label string
	err := n.Do(func() error {
		if err := becomeUID(uid); err != nil {
			return err
		}
		c, err := net.Dial("udp", addr.String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ProbeTimeout))
		if _, err := c.Write([]byte("probe")); err != nil {
			return err
		}
		buf := make([]byte, 512)
		k, err := c.Read(buf)
		label = string(buf[:k])
		return err
	})
	if err != nil {
		return "", fmt.Errorf("udp probe %s from %s as uid %d: %w", addr, n.Name, uid, err)
	}
	return label, nil
}
