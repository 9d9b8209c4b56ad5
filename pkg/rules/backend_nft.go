package rules

import "github.com/mesh-cni/mesh-cni/pkg/rules/nftables"

// nftNATMissing reports whether nf_tables certainly has no `nat` table of
// the family in the calling thread's network namespace, asking the kernel
// over netlink (NFT_MSG_GETTABLE, nftables.HasNATTable) instead of running
// iptables-nft-save: in a new pod's namespace, where there is none, that
// saves one program per family on every ADD. Any answer but "no such
// table" (an old kernel, a netlink error) returns false, and the caller
// reads the table with iptables-nft-save as usual.
func nftNATMissing(fam Family) bool {
	exists, err := nftables.HasNATTable(nftables.Family(fam))
	return err == nil && !exists
}
