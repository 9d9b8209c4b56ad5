package apply

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules/nftables"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// This file decides whether a new pod's rules may be written over netlink
// (package nftables) instead of by iptables-nft-restore, which costs a
// program start, a large share of a meshed ADD (docs/benchmarks.md), for a
// few hundred bytes of netlink messages.
//
// People read a pod's rules with the node's own iptables-save, so the
// netlink writer must leave exactly the kernel objects the node's
// iptables-nft-restore would. Which objects those are depends on the
// iptables version (1.8.9 matches tcp ports natively; older ones use the
// xt tcp match), so it is not assumed: once per node, iptables program
// and kernel, the same probe rule sets are written both ways into two
// scratch network namespaces and the kernel's listings compared byte for
// byte. Only if they are equal is the writer used; the record of the
// comparison lives in Options.WireDir, and a different node, an
// iptables upgrade or a new kernel (a reboot, which also empties /run)
// compare again.

// WireFiles are the files the comparison may leave in dir: the record, and
// its lock and temporary file while a comparison runs (a process killed
// then leaves them). This package names them; uninstall and tear-downs
// remove them by asking here.
func WireFiles(dir string) []string {
	record := filepath.Join(dir, WireRecord)
	return []string{record, record + ".lock", record + ".tmp"}
}

// WireRecord is the file in Options.WireDir that records the
// comparison; the installer removes it when it uninstalls.
const WireRecord = "nft-wire"

// wireFormat names this build's encoding: a record another build made is
// not trusted.
const wireFormat = "mesh-cni-nftables/3"

// wireEqual ends a record whose comparison found both writers equal.
const wireEqual = "equal"

// wireAllowed says, once per session, whether Apply may use the netlink
// writer. It is asked only for a new nft table, so that a legacy node or a
// namespace with rules pays nothing for the question. It runs on the
// session's worker thread; the comparison's own threads are new ones,
// with the process's namespaces.
func (s *session) wireAllowed() bool {
	if s.wire == nil {
		ok := wireAllowed(s.opts.WireDir)
		s.wire = &ok
	}
	return *s.wire
}

// wireAllowed says whether the netlink writer may be used, comparing
// first when this node has no record for its iptables and kernel yet.
// Anything unexpected says no: iptables-nft-restore is always right.
func wireAllowed(dir string) bool {
	if dir == "" {
		return false
	}
	key, err := wireKey()
	if err != nil {
		return false
	}
	record := filepath.Join(dir, WireRecord)
	if verdict, ok := readWireRecord(record, key); ok {
		return verdict == wireEqual
	}
	return compareOnce(dir, record, key)
}

// wireKey is what the comparison's result depends on: this build's
// encoding, the iptables-nft-restore programs Apply would run (resolved
// path, inode, size, modification time) and the kernel release.
func wireKey() (string, error) {
	parts := []string{wireFormat}
	for _, fam := range rules.Families {
		p, err := toolPath(BackendNFT, fam, toolRestore)
		if err != nil {
			return "", err
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", err
		}
		var st unix.Stat_t
		if err := unix.Stat(real, &st); err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%d:%d", real, st.Ino, st.Size, st.Mtim.Nano()))
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return strings.Join(append(parts, "kernel:"+unix.ByteSliceToString(u.Release[:])), " "), nil
}

// readWireRecord returns the verdict recorded for key, if any.
func readWireRecord(path, key string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	gotKey, verdict, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	if !ok || gotKey != key {
		return "", false
	}
	return verdict, true
}

// compareOnce compares the writers and records the verdict, unless
// another mesh-cni is comparing right now: then this Apply uses
// iptables-nft-restore rather than wait, and a later one reads the record.
func compareOnce(dir, record, key string) bool {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false
	}
	lockPath := record + ".lock"
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false
	}
	// Removed before the unlock (at Close), as the netns locks are, so
	// that nothing is left behind but the record.
	defer os.Remove(lockPath)
	if verdict, ok := readWireRecord(record, key); ok {
		return verdict == wireEqual
	}
	verdict := wireEqual
	if err := compareWriters(); err != nil {
		verdict = "differs: " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	tmp := record + ".tmp"
	if os.WriteFile(tmp, []byte(key+"\n"+verdict+"\n"), 0o600) != nil || os.Rename(tmp, record) != nil {
		os.Remove(tmp)
	}
	return verdict == wireEqual
}

// wireProbe is a rule set of every shape the netlink writer encodes: the
// osm-v0 chains with chains declared, rules appended and inserted, tcp
// ports, multiport, the owner match, REDIRECT, jumps and verdicts, and
// destination prefixes of full, whole-byte and partial-byte length in
// each family; and beside them (their chain names differ) the osm-v1
// chains in PodIP mode, with interface names and prefixes, negated
// destinations and owners, inclusions and DNAT to the pod's address.
func wireProbe(fam rules.Family) (rules.RuleSet, error) {
	v0 := rules.DefaultConfig(rules.ProfileOSMv0)
	v0.OutboundIPRangeExclusions = []string{"192.0.2.1/32", "198.51.100.0/24", "203.0.112.0/20", "2001:db8::1/128", "2001:db8:100::/40", "2001:db8:200::/60"}
	v0.OutboundPortExclusions = []uint16{6379, 7070, 8080}
	v0.InboundPortExclusions = []uint16{9090}
	v1 := rules.DefaultConfig(rules.ProfileOSMv1)
	v1.OutboundIPRangeInclusions = []string{"10.96.0.0/12", "2001:db8:300::/56"}
	v1.NetworkInterfaceExclusions = []string{"eth1", "veth+"}
	v1.LocalProxyMode = rules.LocalProxyPodIP
	v1.PodIPs = []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")}
	v1.LocalDNSProxy = true
	probe, err := rules.Build(v0, fam)
	if err != nil {
		return probe, err
	}
	more, err := rules.Build(v1, fam)
	probe.Chains = append(probe.Chains, more.Chains...)
	probe.Rules = append(probe.Rules, more.Rules...)
	return probe, err
}

// compareWriters writes the probe of each family with
// iptables-nft-restore into one scratch network namespace and with the
// netlink writer into another, and returns how the kernel's listings
// differ, if they do.
func compareWriters() error {
	for _, fam := range rules.Families {
		probe, err := wireProbe(fam)
		if err != nil {
			return err
		}
		if err := nftables.Check(&probe); err != nil {
			return err
		}
		doc := rules.Transaction(rules.SavedTable{}, &probe)
		var viaRestore, viaWire []byte
		err = inScratchNetns(func() error {
			p, err := start(BackendNFT, fam, toolRestore, os.Environ(), doc, "--noflush")
			if err != nil {
				return err
			}
			if _, err := p.wait(); err != nil {
				return err
			}
			viaRestore, err = nftables.Dump(fam)
			return err
		})
		if err != nil {
			return err
		}
		err = inScratchNetns(func() error {
			if err := nftables.Write(&probe); err != nil {
				return err
			}
			viaWire, err = nftables.Dump(fam)
			return err
		})
		if err != nil {
			return err
		}
		if !bytes.Equal(viaRestore, viaWire) {
			return fmt.Errorf("%s: the kernel holds different objects after the netlink writer than after %s", fam, command(fam, toolRestore))
		}
	}
	return nil
}

// inScratchNetns runs f on a fresh OS thread in a new, empty network
// namespace, which goes away with the thread: the thread stays locked, so
// the Go runtime ends it when f returns.
func inScratchNetns(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("new network namespace: %w", err)
			return
		}
		done <- f()
	}()
	return <-done
}

// writeWire writes a fresh table's rule set over netlink. It reports
// false, having written nothing, when the set has a shape the writer does
// not encode (Write checks that before it sends anything) or the kernel
// refused the batch, which is atomic: the caller then runs
// iptables-nft-restore.
func (s *session) writeWire(fam rules.Family, want *rules.RuleSet) bool {
	delete(s.tables, tableKey{BackendNFT, fam})
	delete(s.missing, tableKey{BackendNFT, fam})
	return nftables.Write(want) == nil
}
