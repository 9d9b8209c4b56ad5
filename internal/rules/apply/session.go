package apply

import (
	"fmt"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// session is one Apply, Verify or Cleanup: the netns is locked, the calling
// thread is the worker in the netns, and tables read, and the kernel's
// word that a table is missing, are kept until something is written.
type session struct {
	opts    Options
	env     []string
	tables  map[tableKey]tableRead
	missing map[tableKey]bool
	// wire says whether a new table may be written over netlink
	// (wire.go); nil until a new nft table first asks.
	wire *bool
}

type tableKey struct {
	b   Backend
	fam rules.Family
}

type tableRead struct {
	t   rules.SavedTable
	err error
}

// prefetch reads the nat tables of several families at once: the programs
// run side by side, which halves the wait on a dual-stack check.
func (s *session) prefetch(b Backend, fams ...rules.Family) {
	pending := map[rules.Family]*proc{}
	for _, fam := range fams {
		k := tableKey{b, fam}
		if _, ok := s.tables[k]; ok {
			continue
		}
		if s.tableMissing(b, fam) {
			s.tables[k] = tableRead{}
			continue
		}
		p, err := start(b, fam, toolSave, s.env, "", "-t", rules.Table)
		if err != nil {
			s.tables[k] = tableRead{err: fmt.Errorf("%w: %w", errNoTable, err)}
			continue
		}
		pending[fam] = p
	}
	for fam, p := range pending {
		k := tableKey{b, fam}
		out, err := p.wait()
		if err != nil {
			s.tables[k] = tableRead{err: fmt.Errorf("%w: %w", errNoTable, err)}
			continue
		}
		t, err := rules.ParseSave(out)
		if err != nil {
			err = fmt.Errorf("%s: %w", p.what, err)
		}
		s.tables[k] = tableRead{t: t, err: err}
	}
}

// tableMissing says whether the kernel shows, without a program, that the
// family has no nat table in backend b. The answer is kept until the
// session writes there: detect and removeAll ask about the same legacy
// tables, and each look in /proc costs a few syscalls.
func (s *session) tableMissing(b Backend, fam rules.Family) bool {
	k := tableKey{b, fam}
	m, ok := s.missing[k]
	if !ok {
		if b == BackendLegacy {
			m = !legacyNATListed(fam)
		} else {
			m = nftNATMissing(fam)
		}
		s.missing[k] = m
	}
	return m
}

// table is one family's nat table. A legacy table the kernel never
// instantiated is empty; one that cannot be read wraps errNoTable.
func (s *session) table(b Backend, fam rules.Family) (rules.SavedTable, error) {
	s.prefetch(b, fam)
	r := s.tables[tableKey{b, fam}]
	return r.t, r.err
}

// restore runs one iptables-restore --noflush transaction.
func (s *session) restore(b Backend, fam rules.Family, doc string) error {
	delete(s.tables, tableKey{b, fam})
	delete(s.missing, tableKey{b, fam})
	p, err := start(b, fam, toolRestore, s.env, doc, "--noflush")
	if err != nil {
		return err
	}
	_, err = p.wait()
	return err
}

// detect picks the backend for a namespace whose rules of ours are for
// the families need: the forced one; else the only one whose programs are
// installed for them (installedBackend); where both are, the one already
// holding chains of ours; else the one holding more nat rules; else nft,
// which every current distribution defaults to. The legacy nat table is
// first looked for in /proc, so that a namespace nobody used legacy in
// costs no program at all.
func (s *session) detect(need []rules.Family) (Backend, error) {
	b, err := installedBackend(s.opts.Backend, need)
	if err != nil || s.opts.Backend != "" || b == BackendLegacy {
		return b, err
	}
	var legacyFams []rules.Family
	for _, fam := range rules.Families {
		if !s.tableMissing(BackendLegacy, fam) {
			legacyFams = append(legacyFams, fam)
		}
	}
	if len(legacyFams) == 0 {
		return BackendNFT, nil
	}
	s.prefetch(BackendLegacy, legacyFams...)
	s.prefetch(BackendNFT, legacyFams...)
	var ours, count [2]int // [nft, legacy]
	for i, b := range []Backend{BackendNFT, BackendLegacy} {
		for _, fam := range legacyFams {
			t, err := s.table(b, fam)
			if err != nil {
				continue
			}
			ours[i] += len(t.Ours())
			count[i] += t.RuleCount()
		}
	}
	switch {
	case ours[0] > 0:
		return BackendNFT, nil
	case ours[1] > 0 || count[1] > count[0]:
		return BackendLegacy, nil
	}
	return BackendNFT, nil
}

// indexSets checks the sets and indexes them by family.
func indexSets(sets []rules.RuleSet) (map[rules.Family]*rules.RuleSet, error) {
	want := map[rules.Family]*rules.RuleSet{}
	for i := range sets {
		rs := &sets[i]
		if err := rules.CheckApplicable(*rs); err != nil {
			return nil, fmt.Errorf("rule set %d: %w", i, err)
		}
		if want[rs.Family] != nil {
			return nil, fmt.Errorf("two rule sets for %s", rs.Family)
		}
		want[rs.Family] = rs
	}
	return want, nil
}

// wanted lists the families that have a set, in apply order.
func wanted(want map[rules.Family]*rules.RuleSet) []rules.Family {
	var fams []rules.Family
	for _, fam := range rules.Families {
		if want[fam] != nil {
			fams = append(fams, fam)
		}
	}
	return fams
}
