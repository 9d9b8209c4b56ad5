package nftables

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// table is the only table this package writes.
const table = "nat"

// batch is one nf_tables transaction: BATCH_BEGIN, the messages, and
// BATCH_END, sent in one datagram. The kernel applies it all or nothing.
//
// It is built here rather than with the library's nftables.Conn, whose
// AddChain cannot ask for NLM_F_EXCL, whose AddRule sends
// NFTA_RULE_COMPAT only for the xt tcp/udp-like matches (xt multiport
// then fails its check with EINVAL), and whose Flush does not say which
// message the kernel refused. The expressions are the library's
// (expr.Marshal), the attributes mdlayher/netlink's AttributeEncoder.
type batch struct {
	family uint8
	msgs   []netlink.Message
	what   []string // what[i] names the object msgs[i] creates
	err    error    // the first encoding error
}

func newBatch(family uint8) *batch {
	return &batch{family: family}
}

// add appends one command; every one asks for an ack, so that every
// message gets an answer and the wait for them has a known end.
func (b *batch) add(cmd uint16, flags netlink.HeaderFlags, what string, attrs func(*netlink.AttributeEncoder)) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	attrs(ae)
	data, err := ae.Encode()
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("nftables: encoding %s: %w", what, err)
	}
	b.msgs = append(b.msgs, message(nftType(cmd), flags|netlink.Acknowledge, b.family, data))
	b.what = append(b.what, what)
}

// newTable adds the nat table, or keeps the one that exists (no EXCL).
func (b *batch) newTable() {
	b.add(unix.NFT_MSG_NEWTABLE, netlink.Create, "table "+table, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_TABLE_NAME, table)
	})
}

// newUserChain declares a user chain; it must not exist yet.
func (b *batch) newUserChain(name string) {
	b.add(unix.NFT_MSG_NEWCHAIN, netlink.Create|netlink.Excl, "chain "+name, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_CHAIN_TABLE, table)
		ae.String(unix.NFTA_CHAIN_NAME, name)
	})
}

// newBaseChain creates a builtin chain as iptables-nft does: hook and
// priority, policy accept, type nat. Without EXCL, as iptables sends it.
func (b *batch) newBaseChain(name string, bc builtin) {
	b.add(unix.NFT_MSG_NEWCHAIN, netlink.Create, "builtin chain "+name, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_CHAIN_TABLE, table)
		ae.String(unix.NFTA_CHAIN_NAME, name)
		ae.Nested(unix.NFTA_CHAIN_HOOK, func(h *netlink.AttributeEncoder) error {
			h.Uint32(unix.NFTA_HOOK_HOOKNUM, bc.hook)
			h.Uint32(unix.NFTA_HOOK_PRIORITY, uint32(bc.priority))
			return nil
		})
		ae.Uint32(unix.NFTA_CHAIN_POLICY, nfAccept)
		ae.String(unix.NFTA_CHAIN_TYPE, "nat")
	})
}

// newRule adds r: appended (-A, NLM_F_APPEND) or at the head of the
// chain (-I, no position). NFTA_RULE_COMPAT carries the rule's protocol,
// which xt matches such as multiport check; iptables-nft sends it on
// every rule (protocol 0 without -p) and the kernel does not dump it.
func (b *batch) newRule(r rules.Rule, fam rules.Family, i int) {
	flags := netlink.Create
	if r.Op != rules.Insert {
		flags |= unix.NLM_F_APPEND
	}
	b.add(unix.NFT_MSG_NEWRULE, flags, fmt.Sprintf("rule %d (%s)", i+1, r), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_RULE_TABLE, table)
		ae.String(unix.NFTA_RULE_CHAIN, r.Chain)
		ae.Nested(unix.NFTA_RULE_EXPRESSIONS, func(list *netlink.AttributeEncoder) error {
			for _, e := range exprs(r, fam) {
				list.Do(netlink.Nested|unix.NFTA_LIST_ELEM, func() ([]byte, error) { return expr.Marshal(b.family, e) })
			}
			return nil
		})
		ae.Nested(unix.NFTA_RULE_COMPAT, func(c *netlink.AttributeEncoder) error {
			c.Uint32(unix.NFTA_RULE_COMPAT_PROTO, uint32(r.Proto))
			c.Uint32(unix.NFTA_RULE_COMPAT_FLAGS, 0)
			return nil
		})
	})
}

// commit sends the batch and waits for one answer per message. Errors are
// delivered in message order once the kernel has processed the whole
// batch, so the first one is the object that failed first; a failed
// commit is reported against BATCH_BEGIN.
func (b *batch) commit() error {
	if b.err != nil {
		return b.err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.close()
	all := append(append([]netlink.Message{delimiter(unix.NFNL_MSG_BATCH_BEGIN)}, b.msgs...), delimiter(unix.NFNL_MSG_BATCH_END))
	begin, err := c.send(all...)
	if err != nil {
		return err
	}
	what := func(seq uint32) string {
		if seq == begin {
			return "commit"
		}
		return b.what[seq-begin-1]
	}
	pending := make(map[uint32]bool, len(b.msgs))
	for i := range b.msgs {
		pending[begin+1+uint32(i)] = true
	}
	for len(pending) > 0 {
		msgs, err := c.receive()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			seq := m.Header.Sequence
			if m.Header.Type != netlink.Error || seq < begin || seq > begin+uint32(len(b.msgs)) {
				continue
			}
			if e := errno(m); e != 0 {
				return fmt.Errorf("nftables: %s in table %s %s: %w", what(seq), familyName(b.family), table, e)
			}
			delete(pending, seq)
		}
	}
	return nil
}

// delimiter is BATCH_BEGIN or BATCH_END: its resource id names the
// subsystem the batch is for.
func delimiter(typ uint16) netlink.Message {
	m := message(typ, 0, unix.AF_UNSPEC, nil)
	binary.BigEndian.PutUint16(m.Data[2:], unix.NFNL_SUBSYS_NFTABLES)
	return m
}

// familyName is the family as nft(8) names it, for error messages.
func familyName(nfproto uint8) string {
	if nfproto == unix.NFPROTO_IPV6 {
		return "ip6"
	}
	return "ip"
}
