// Package apply is the kernel side of mesh-cni's rules: it installs,
// verifies and removes the rule sets package rules builds, in a pod's
// network namespace. It enters the namespace, takes the per-namespace
// lock, chooses the iptables backend from the programs installed and the
// tables present, runs iptables-save and iptables-restore, and, once this
// node has shown both leave the same kernel objects, writes a new pod's
// rules over netlink (package nftables) instead.
package apply

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Options configure Apply, Verify and Cleanup, which act on the
// network namespace at Netns or, when Netns is empty, on the CURRENT one:
// the caller has entered it on a locked OS thread, and the iptables
// programs started from that thread inherit it.
type Options struct {
	// Netns is the path of the network namespace to act in (a pod's
	// CNI_NETNS). The worker thread enters it directly: entering it first
	// on another thread would cost the plugin a second thread per ADD.
	Netns string
	// LockDir is the directory for per-netns lock files; default
	// DefaultLockDir ("/run/mesh-cni/xtables").
	LockDir string
	// Backend forces an iptables backend; "" detects it.
	Backend Backend
	// WireDir, when set, lets Apply write a new pod's nf_tables rules over
	// netlink instead of running iptables-nft-restore, once a comparison
	// on this node found both leave the same kernel objects (wire.go); the
	// comparison's record, WireRecord, is kept in this directory.
	WireDir string
}

// Result says what Apply did.
type Result struct {
	// Backend is the iptables backend the rules are in.
	Backend Backend
	// Changed is false when an identical set was already there and
	// nothing was written.
	Changed bool
	// Netlink is true when a set was written over netlink (WireDir), not
	// by iptables-restore.
	Netlink bool
}

// Apply makes the current network namespace hold exactly the given rule
// sets of ours (at most one per family); a family without a set is left
// with no rules of ours. Each family is written with one
// `iptables-restore --noflush` transaction that removes whatever of ours is
// there (another profile's chains, a partial set) and installs the new set,
// so no packet sees a half-written table. An identical set already in place
// is left alone (Changed=false). In a new nf_tables table, the set goes
// over netlink instead, where Options.WireDir allows it (wire.go).
// On any failure everything of ours is removed again, in every family, so
// that a pod is never left with some of its rules.
//
// A family written is read back with iptables-save and compared only
// where its table held rules of ours before, or where rules of ours had to
// be removed from the other backend. Those transactions are built from
// tables parsed from iptables-save output (our jumps are deleted by their
// printed spelling), a misreading would still exit 0, and they are rare
// (a retried ADD over a partial set, a profile change, a node that changed
// backends), so the check is worth its program. A family whose table held
// nothing of ours and nothing removed elsewhere, which is every new pod's
// namespace, is not read back: its transaction only declares our chains
// and appends our rules, iptables-restore exits 0 only once its one atomic
// COMMIT of exactly that document is in the kernel, and a read-back,
// parsed by the same code that found nothing of ours there, would only
// re-check iptables, for one more program (iptables-save) per family on
// every pod's ADD. TestApplyPrograms holds Apply to
// that. Verify, which CNI CHECK runs, still compares everything.
func Apply(sets []rules.RuleSet, opts Options) (Result, error) {
	want, err := indexSets(sets)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = withSession(opts, func(s *session) error {
		var err error
		res, err = s.apply(want)
		return err
	})
	return res, err
}

// Verify returns nil iff the current network namespace holds exactly the
// given rule sets of ours and no other chain or jump of ours, in any
// family; otherwise its error lists the rule lines missing and extra.
func Verify(sets []rules.RuleSet, opts Options) error {
	want, err := indexSets(sets)
	if err != nil {
		return err
	}
	return withSession(opts, func(s *session) error {
		b, err := s.detect(wanted(want))
		if err != nil {
			return err
		}
		var diffs []string
		// Rules of ours in the other backend would redirect traffic too.
		for _, bk := range []Backend{b, other(b)} {
			for _, fam := range rules.Families {
				w, where := want[fam], fam.String()
				if bk != b {
					w, where = nil, fmt.Sprintf("%s (iptables %s)", fam, bk)
				}
				d, err := s.diff(bk, fam, w)
				if err != nil {
					return err
				}
				for _, line := range d {
					diffs = append(diffs, where+": "+line)
				}
			}
		}
		if len(diffs) > 0 {
			return fmt.Errorf("mesh rules (iptables %s) differ from the wanted set:\n%s", b, strings.Join(diffs, "\n"))
		}
		return nil
	})
}

// Cleanup removes every chain of ours (OwnedChains) and every rule of ours
// from PREROUTING and OUTPUT, in all families, in both backends (only in
// opts.Backend when it is set); it does nothing where there is nothing of
// ours.
func Cleanup(opts Options) error {
	return withSession(opts, func(s *session) error {
		backends := []Backend{opts.Backend}
		if opts.Backend == "" {
			backends = []Backend{BackendNFT, BackendLegacy}
		}
		var errs []error
		for _, b := range backends {
			_, err := s.removeAll(b)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// withSession runs f with the netns locked, on a worker thread in it.
func withSession(opts Options, f func(*session) error) error {
	if _, err := ParseBackend(string(opts.Backend)); err != nil {
		return err
	}
	target := "/proc/thread-self/ns/net"
	if opts.Netns != "" {
		target = opts.Netns
	}
	netns, err := os.Open(target)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer netns.Close()
	lock, err := lockNetns(opts.LockDir, netns)
	if err != nil {
		return err
	}
	defer lock.unlock()
	s := &session{
		opts:    opts,
		env:     append(os.Environ(), "XTABLES_LOCKFILE="+lock.xtables),
		tables:  map[tableKey]tableRead{},
		missing: map[tableKey]bool{},
	}
	return inNetns(netns, lock.file, func() error { return f(s) })
}

// apply is Apply inside the session.
func (s *session) apply(want map[rules.Family]*rules.RuleSet) (Result, error) {
	b, err := s.detect(wanted(want))
	if err != nil {
		return Result{}, err
	}
	res := Result{Backend: b}
	fail := func(err error) (Result, error) {
		if rerr := s.removeEverywhere(); rerr != nil {
			err = fmt.Errorf("%w; removing the partial rules failed too: %v", err, rerr)
		}
		return res, err
	}
	// Rules of ours in the other backend would redirect traffic too.
	removed, err := s.removeAll(other(b))
	if err != nil {
		return fail(err)
	}
	res.Changed = removed
	s.prefetch(b, rules.Families...)
	// readBack: the families whose transaction replaced rules of ours
	// (see Apply for why only those).
	var readBack []rules.Family
	for _, fam := range rules.Families {
		t, err := s.table(b, fam)
		if errors.Is(err, errNoTable) && want[fam] == nil {
			continue
		}
		if err != nil {
			return fail(err)
		}
		had := t.Ours()
		if rules.Unchanged(want[fam], had) {
			continue
		}
		res.Changed = true
		// A new pod's table: nothing to remove, only our chains to add.
		if b == BackendNFT && want[fam] != nil && !removed && s.missing[tableKey{b, fam}] && s.wireAllowed() && s.writeWire(fam, want[fam]) {
			res.Netlink = true
			continue
		}
		if err := s.restore(b, fam, rules.Transaction(t, want[fam])); err != nil {
			return fail(err)
		}
		if len(had) > 0 || removed {
			readBack = append(readBack, fam)
		}
	}
	s.prefetch(b, readBack...)
	for _, fam := range readBack {
		d, err := s.diff(b, fam, want[fam])
		if err == nil && len(d) > 0 {
			err = fmt.Errorf("iptables %s, %s: rules read back differ from those written:\n%s", b, fam, strings.Join(d, "\n"))
		}
		if err != nil {
			return fail(err)
		}
	}
	return res, nil
}

// removeEverywhere removes all of ours from both backends.
func (s *session) removeEverywhere() error {
	_, nerr := s.removeAll(BackendNFT)
	_, lerr := s.removeAll(BackendLegacy)
	return errors.Join(nerr, lerr)
}

// removeAll removes all of ours from one backend, in every family, and
// says whether there was anything to remove.
func (s *session) removeAll(b Backend) (bool, error) {
	s.prefetch(b, rules.Families...)
	removed := false
	var errs []error
	for _, fam := range rules.Families {
		t, err := s.table(b, fam)
		if errors.Is(err, errNoTable) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(t.Ours()) == 0 {
			continue
		}
		removed = true
		errs = append(errs, s.restore(b, fam, rules.Transaction(t, nil)))
	}
	return removed, errors.Join(errs...)
}

// diff compares one family's table with a wanted set (nil: none of ours).
func (s *session) diff(b Backend, fam rules.Family, want *rules.RuleSet) ([]string, error) {
	t, err := s.table(b, fam)
	if errors.Is(err, errNoTable) {
		if want == nil {
			return nil, nil
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return rules.Diff(want, t.Ours()), nil
}

func other(b Backend) Backend {
	if b == BackendLegacy {
		return BackendNFT
	}
	return BackendLegacy
}
