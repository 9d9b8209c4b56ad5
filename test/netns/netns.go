// Package netns gives kernel tests network namespaces of their own, veth
// links between them, and real TCP listeners and dialers that say where a
// connection landed (SO_ORIGINAL_DST included). Everything it makes is
// removed by t.Cleanup, even when the test fails; names carry the process
// id, so two test processes can run at once.
//
// Tests that use it need root. RequireKernel fails them otherwise, unless
// MESH_CNI_SKIP_KERNEL=1 asks for a skip.
package netns

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// SkipEnv is the variable that, set to 1, turns kernel tests into skips.
const SkipEnv = "MESH_CNI_SKIP_KERNEL"

// RequireKernel fails the test when it cannot run as a kernel test: not
// root, or one of the programs missing. With MESH_CNI_SKIP_KERNEL=1 it
// skips instead; a kernel test never passes by silently doing nothing.
func RequireKernel(t testing.TB, programs ...string) {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("kernel test skipped: %s=1", SkipEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("kernel test needs root (network namespaces, iptables); run it as root or set %s=1 to skip it", SkipEnv)
	}
	for _, p := range append([]string{"ip"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("kernel test needs %s: %v (or set %s=1 to skip it)", p, err, SkipEnv)
		}
	}
}

// NS is a network namespace made for a test: /run/netns/<Name>.
type NS struct {
	Name string
	Path string
}

var seq atomic.Int64

// New makes a network namespace with its loopback up and nothing else:
// no other interface, no route. It is deleted at the end of the test.
func New(t testing.TB) *NS {
	t.Helper()
	name := fmt.Sprintf("mcni-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.IP(t, "link set lo up")
	return n
}

// Do runs f on a locked OS thread that has entered the namespace; programs
// f starts run in it too. The thread is dropped afterwards rather than
// returned to the Go runtime, so f may also change the thread's identity.
func (n *NS) Do(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends the thread when this
		// goroutine returns.
		fd, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// Run runs a program inside the namespace and returns its standard
// output; the test fails when it fails.
func (n *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out []byte
	err := n.Do(func() error {
		cmd := exec.Command(name, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			return fmt.Errorf("%w: %s", err, stderr.String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("in %s: %s %s: %v", n.Name, name, strings.Join(args, " "), err)
	}
	return string(out)
}

// IP runs `ip -n <ns> -batch -`, one command a line (without "ip").
func (n *NS) IP(t testing.TB, lines ...string) {
	t.Helper()
	cmd := exec.Command("ip", "-n", n.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s: %v: %s\n%s", n.Name, err, out, strings.Join(lines, "\n"))
	}
}

// Link connects a and b with a veth pair, ifA in a and ifB in b, gives
// each end its addresses and brings both up. The prefixes' lengths make
// the on-link routes; no other route is added. IPv6 addresses skip
// duplicate address detection, so they are usable at once.
func Link(t testing.TB, a *NS, ifA string, addrsA []netip.Prefix, b *NS, ifB string, addrsB []netip.Prefix) {
	t.Helper()
	a.IP(t, fmt.Sprintf("link add %s type veth peer name %s netns %s", ifA, ifB, b.Name))
	a.IP(t, ifaceLines(ifA, addrsA)...)
	b.IP(t, ifaceLines(ifB, addrsB)...)
}

func ifaceLines(ifname string, addrs []netip.Prefix) []string {
	var lines []string
	for _, p := range addrs {
		l := fmt.Sprintf("addr add %s dev %s", p, ifname)
		if p.Addr().Is6() {
			l += " nodad"
		}
		lines = append(lines, l)
	}
	return append(lines, "link set "+ifname+" up")
}
