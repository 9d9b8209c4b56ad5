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
// Only the rule shapes mesh-cni's osm-v0 and osm-v1 profiles use are
// encodable (see Check); anything else is refused with ErrUnsupported,
// and the caller is expected to fall back to iptables-nft-restore. Dump
// lists what the kernel holds, so that a caller can verify, in scratch
// namespaces, that this package and the node's own iptables still agree.
package nftables

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Family is an IP address family. The values are those of pkg/rules'
// Family, so converting between the two is a plain type conversion.
type Family int

const (
	// IPv4 rules go to the ip family's nat table (iptables).
	IPv4 Family = 4
	// IPv6 rules go to the ip6 family's nat table (ip6tables).
	IPv6 Family = 6
)

// nfproto is the nf_tables family the kernel files the table under.
func (f Family) nfproto() (uint8, error) {
	switch f {
	case IPv4:
		return unix.NFPROTO_IPV4, nil
	case IPv6:
		return unix.NFPROTO_IPV6, nil
	}
	return 0, fmt.Errorf("nftables: unknown address family %d: %w", int(f), ErrUnsupported)
}

// Rule is one -A or -I line of an iptables-restore document.
type Rule struct {
	// Chain is the chain the rule goes into: a builtin nat chain or one
	// of the Set's Chains.
	Chain string
	// Insert is -I (the rule goes to the head of the chain); otherwise
	// it is -A (appended).
	Insert bool
	// Args are the iptables arguments after the chain, one token each,
	// e.g. {"-p", "tcp", "--dport", "15010", "-j", "RETURN"}.
	Args []string
}

// String is the rule as an iptables-restore line, for error messages.
func (r Rule) String() string {
	op := "-A"
	if r.Insert {
		op = "-I"
	}
	return strings.TrimSpace(op + " " + r.Chain + " " + strings.Join(r.Args, " "))
}

// Set is the nat table document for one family: the user chains it
// declares (":NAME - [0:0]"), in order, and its rules in document order.
type Set struct {
	Family Family
	Chains []string
	Rules  []Rule
}

// ErrUnsupported is wrapped by every error Check returns: the document
// holds something this package does not write the way iptables-nft would
// (or that iptables would refuse), so the caller should hand the document
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

// Check reports whether Write can encode every rule of s. Its error wraps
// ErrUnsupported and names the rule and the token it stopped at. It does
// not touch the kernel.
func Check(s Set) error {
	_, err := parseSet(s)
	return err
}

// Write programs s into the nat table of the calling thread's network
// namespace as one atomic nf_tables batch: the table, the user chains in
// order (each must not exist yet: NLM_F_EXCL), then each rule in order,
// creating a builtin chain just before the first rule that needs it. The
// kernel applies all of it or, on any error, none of it. The caller must
// have locked its goroutine to the OS thread that is in the namespace.
//
// Errors name the chain or rule the kernel refused and wrap its errno
// (errors.Is(err, unix.EEXIST) when a chain already exists); a document
// Check refuses is refused the same way, before anything is sent.
func Write(s Set) error {
	p, err := parseSet(s)
	if err != nil {
		return err
	}
	if len(s.Chains) == 0 && len(s.Rules) == 0 {
		// iptables-nft-restore does not even create the table then.
		return nil
	}
	b := newBatch(p.family)
	b.newTable()
	for _, c := range s.Chains {
		b.newUserChain(c)
	}
	made := map[string]bool{}
	for i, r := range p.rules {
		if bc, ok := builtinChain(r.chain); ok && !made[r.chain] {
			b.newBaseChain(r.chain, bc)
			made[r.chain] = true
		}
		b.newRule(r, i)
	}
	return b.commit()
}
