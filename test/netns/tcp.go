package netns

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/origdst"
)

// ProbeTimeout bounds one Probe: connecting and reading the answer.
var ProbeTimeout = 3 * time.Second

// Serve listens on addr inside the namespace until the test ends. It
// answers every connection with one line, "<label> <original destination>",
// and closes it: the original destination is what SO_ORIGINAL_DST reports
// for a connection NAT redirected here, else the address it was made to.
// An IPv6 listener takes IPv6 only (IPV6_V6ONLY), so a test can tell an
// IPv4 proxy listener from an IPv6 one on the same port.
func (n *NS) Serve(t testing.TB, addr netip.AddrPort, label string) {
	t.Helper()
	network := "tcp4"
	if addr.Addr().Is6() {
		network = "tcp6"
	}
	var l net.Listener
	if err := n.Do(func() (err error) {
		l, err = net.Listen(network, addr.String())
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dst, err := OriginalDst(c.(*net.TCPConn))
			if err != nil {
				dst, _ = netip.ParseAddrPort(c.LocalAddr().String())
			}
			fmt.Fprintf(c, "%s %s\n", label, dst)
			c.Close()
		}
	}()
}

// Probe connects from inside the namespace to addr, as user uid when it is
// not 0 (the socket belongs to uid, which is what iptables' owner match
// sees), and returns the line the listener answered with, e.g.
// "proxy-out 10.213.1.2:80".
func (n *NS) Probe(addr netip.AddrPort, uid int) (string, error) {
	var line string
	err := n.Do(func() error {
		if err := becomeUID(uid); err != nil {
			return err
		}
		// The socket is made here, on this thread: in the namespace and
		// owned by uid; the rest of the exchange may run anywhere.
		c, err := net.DialTimeout("tcp", addr.String(), ProbeTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ProbeTimeout))
		line, err = bufio.NewReader(c).ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		return err
	})
	if err != nil {
		return "", fmt.Errorf("probe %s from %s as uid %d: %w", addr, n.Name, uid, err)
	}
	return line, nil
}

// becomeUID makes the calling thread user uid, unless uid is 0. Only this
// thread changes identity: syscall.Setresuid would change every thread of
// the test process. Do drops the thread afterwards.
func becomeUID(uid int) error {
	if uid == 0 {
		return nil
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", uid, e)
	}
	return nil
}

// OriginalDst asks conntrack where an accepted connection was going before
// NAT (REDIRECT, DNAT) changed its destination: what a proxy listener reads
// to know the real destination. It fails when conntrack has no entry.
func OriginalDst(c *net.TCPConn) (netip.AddrPort, error) {
	return origdst.Of(c)
}
