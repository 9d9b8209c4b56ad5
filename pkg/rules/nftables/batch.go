package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// table is the only table this package writes.
const table = "nat"

// batch is one nf_tables transaction: BATCH_BEGIN, the messages, and
// BATCH_END, sent in one datagram. The kernel applies it all or nothing.
//
// It is framed here rather than with the library's nftables.Conn, whose
// AddChain cannot ask for NLM_F_EXCL, whose AddRule sends
// NFTA_RULE_COMPAT only for the xt tcp/udp-like matches (xt multiport
// then fails its check with EINVAL), and whose Flush does not say which
// message the kernel refused. The expressions are the library's.
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
func (b *batch) newRule(r rule, i int) {
	flags := netlink.Create
	if !r.insert {
		flags |= unix.NLM_F_APPEND
	}
	b.add(unix.NFT_MSG_NEWRULE, flags, fmt.Sprintf("rule %d (%s)", i+1, r.original), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_RULE_TABLE, table)
		ae.String(unix.NFTA_RULE_CHAIN, r.chain)
		ae.Nested(unix.NFTA_RULE_EXPRESSIONS, func(list *netlink.AttributeEncoder) error {
			for _, e := range exprs(r) {
				list.Do(netlink.Nested|unix.NFTA_LIST_ELEM, func() ([]byte, error) { return expr.Marshal(b.family, e) })
			}
			return nil
		})
		ae.Nested(unix.NFTA_RULE_COMPAT, func(c *netlink.AttributeEncoder) error {
			c.Uint32(unix.NFTA_RULE_COMPAT_PROTO, uint32(r.proto))
			c.Uint32(unix.NFTA_RULE_COMPAT_FLAGS, 0)
			return nil
		})
	})
}

// commit sends the batch and waits for one answer per message. The
// kernel processes the whole batch before it answers, and answers in
// message order, so the first message without an ack is the first it
// refused.
func (b *batch) commit() error {
	if b.err != nil {
		return b.err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	all := append(append([]netlink.Message{delimiter(unix.NFNL_MSG_BATCH_BEGIN)}, b.msgs...), delimiter(unix.NFNL_MSG_BATCH_END))
	sent, err := c.SendMessages(all)
	if err != nil {
		return fmt.Errorf("nftables: sending the batch: %w", err)
	}
	index := make(map[uint32]int, len(b.msgs))
	for i, m := range sent[1 : len(sent)-1] {
		index[m.Header.Sequence] = i
	}
	acked := make([]bool, len(b.msgs))
	var refused error
	for answers := 0; answers < len(b.msgs); {
		replies, err := c.Receive()
		if err != nil {
			if !kernelAnswer(err) {
				return fmt.Errorf("nftables: waiting for the kernel's answer: %w", err)
			}
			if refused == nil {
				refused = err
			}
			answers++
			continue
		}
		for _, m := range replies {
			if i, ok := index[m.Header.Sequence]; ok && m.Header.Type == netlink.Error && !acked[i] {
				acked[i] = true
				answers++
			}
		}
	}
	if refused == nil {
		return nil
	}
	what := "commit"
	for i, ok := range acked {
		if !ok {
			what = b.what[i]
			break
		}
	}
	return fmt.Errorf("nftables: %s in table %s %s: %w", what, familyName(b.family), table, refused)
}

// delimiter is BATCH_BEGIN or BATCH_END: its resource id names the
// subsystem the batch is for.
func delimiter(typ uint16) netlink.Message {
	m := message(typ, 0, unix.AF_UNSPEC, nil)
	binary.BigEndian.PutUint16(m.Data[2:], unix.NFNL_SUBSYS_NFTABLES)
	return m
}

// kernelAnswer says whether err is an error message from the kernel (a
// netlink.OpError with the errno it sent), not a failure of the socket.
func kernelAnswer(err error) bool {
	var op *netlink.OpError
	var sys *os.SyscallError
	var errno unix.Errno
	return errors.As(err, &op) && !errors.As(err, &sys) && errors.As(err, &errno)
}

// familyName is the family as nft(8) names it, for error messages.
func familyName(nfproto uint8) string {
	if nfproto == unix.NFPROTO_IPV6 {
		return "ip6"
	}
	return "ip"
}
