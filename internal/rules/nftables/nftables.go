// Package nftables writes mesh-cni's nat rules into the calling thread's
// network namespace over netlink (NETLINK_NETFILTER, one nf_tables batch),
// producing exactly the kernel objects iptables-nft-restore v1.8.9 writes
// for the same iptables-restore document: the same table, chains, rules,
// expressions and attribute values, so that iptables-nft-save prints the
// same text. Building the batch in-process spares a new pod's ADD the
// start of iptables-nft-restore (docs/decisions.md has the figures).
//
// It is built on github.com/google/nftables: the library's expr package
// encodes every expression, and its xt package the NAT targets' info
// structs; the netlink messages and attributes are those of the library's
// own netlink package, github.com/mdlayher/netlink. The library's
// nftables.Conn is not used: see batch for why the batch is not its
// Flush, and conn for why the socket is not its socket.
//
// It encodes package rules' rule values as they are, with no text in
// between. Of those, the shapes mesh-cni's osm-v0 and osm-v1 profiles use
// are encodable (see Check); anything else is refused with
// ErrUnsupported, and the caller is expected to fall back to
// iptables-nft-restore. Dump lists what the kernel holds, so that a caller
// can verify, in scratch namespaces, that this package and the node's own
// iptables still agree.
package nftables

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// nfproto is the nf_tables family the kernel files a family's table under.
func nfproto(f rules.Family) (uint8, error) {
	switch f {
	case rules.IPv4:
		return unix.NFPROTO_IPV4, nil
	case rules.IPv6:
		return unix.NFPROTO_IPV6, nil
	}
	return 0, fmt.Errorf("nftables: unknown address family %d: %w", int(f), ErrUnsupported)
}

// ErrUnsupported is wrapped by every error Check returns: the rule set
// holds something this package does not write the way iptables-nft would
// (or that iptables would refuse), so the caller should hand its document
// to iptables-nft-restore instead, which either writes it or says why not.
var ErrUnsupported = errors.New("not supported by the in-process nftables writer")

// builtin is a nat base chain as iptables-nft creates it: the hook and
// priority of its iptables-legacy counterpart, policy accept, type nat.
type builtin struct {
	hook     uint32
	priority int32
}

// builtinChain says whether name is a nat base chain and how
// iptables-nft creates it. iptables-nft-restore creates one only when a
// rule first needs it, so Write does the same: which ones exist, and in
// which order, is part of what the kernel holds. A switch, not a
// package-level map, which every start of the plugin would build.
func builtinChain(name string) (builtin, bool) {
	switch name {
	case "PREROUTING":
		return builtin{unix.NF_INET_PRE_ROUTING, -100}, true
	case "INPUT":
		return builtin{unix.NF_INET_LOCAL_IN, 100}, true
	case "OUTPUT":
		return builtin{unix.NF_INET_LOCAL_OUT, -100}, true
	case "POSTROUTING":
		return builtin{unix.NF_INET_POST_ROUTING, 100}, true
	}
	return builtin{}, false
}

// Check reports whether Write can encode the rule set: its chains and
// every rule. Its error wraps ErrUnsupported and names the rule and the
// token it stopped at. It does not touch the kernel.
func Check(rs *rules.RuleSet) error {
	_, err := check(rs)
	return err
}

// Write programs rs into the nat table of the calling thread's network
// namespace as one atomic nf_tables batch: the table, the user chains in
// order (each must not exist yet: NLM_F_EXCL), then each rule in order,
// creating a builtin chain just before the first rule that needs it. The
// kernel applies all of it or, on any error, none of it. The caller must
// have locked its goroutine to the OS thread that is in the namespace.
//
// Errors name the chain or rule the kernel refused and wrap its errno
// (errors.Is(err, unix.EEXIST) when a chain already exists); a set
// Check refuses is refused the same way, before anything is sent.
func Write(rs *rules.RuleSet) error {
	family, err := check(rs)
	if err != nil {
		return err
	}
	if len(rs.Chains) == 0 && len(rs.Rules) == 0 {
		// iptables-nft-restore does not even create the table then.
		return nil
	}
	b := newBatch(family)
	b.newTable()
	for _, c := range rs.Chains {
		b.newUserChain(c)
	}
	made := map[string]bool{}
	for i, r := range rs.Rules {
		if bc, ok := builtinChain(r.Chain); ok && !made[r.Chain] {
			b.newBaseChain(r.Chain, bc)
			made[r.Chain] = true
		}
		b.newRule(r, rs.Family, i)
	}
	return b.commit()
}
