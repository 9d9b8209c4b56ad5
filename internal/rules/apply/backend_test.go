package apply

import (
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// TestTableProbes checks the two ways mesh-cni learns without running a
// program that a family's nat table does not exist (and so holds nothing
// of ours): /proc for legacy, netlink for nft. A wrong "missing" would
// make Apply skip rules that are there; so both answers are checked
// before and after the table is made.
func TestTableProbes(t *testing.T) {
	requireIptables(t)
	p := newPod(t)
	probe := func() (legacy4, legacy6, nftMissing4, nftMissing6 bool) {
		p.Do(func() error {
			legacy4, legacy6 = legacyNATListed(rules.IPv4), legacyNATListed(rules.IPv6)
			nftMissing4, nftMissing6 = nftNATMissing(rules.IPv4), nftNATMissing(rules.IPv6)
			return nil
		})
		return
	}
	if l4, l6, m4, m6 := probe(); l4 || l6 || !m4 || !m6 {
		t.Errorf("fresh namespace: legacy nat listed %v/%v, nft nat missing %v/%v; want false/false, true/true", l4, l6, m4, m6)
	}
	p.restore(t, BackendNFT, rules.IPv4, foreignRules)
	p.restore(t, BackendLegacy, rules.IPv6, foreignRules)
	if l4, l6, m4, m6 := probe(); l4 || !l6 || m4 || !m6 {
		t.Errorf("nft IPv4 and legacy IPv6 tables made: legacy nat listed %v/%v, nft nat missing %v/%v; want false/true, false/true", l4, l6, m4, m6)
	}
}
