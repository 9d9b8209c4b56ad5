package nftables

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// table is the only table this package writes.
const table = "nat"

// batch is one nf_tables transaction: BATCH_BEGIN, the messages, and
// BATCH_END, sent in one datagram. The kernel applies it all or nothing.
type batch struct {
	w      writer
	family uint8
	what   []string // what[seq-1] names the object message seq creates
}

func newBatch(family uint8) *batch {
	// 8 KiB holds mesh-cni's usual sets (about 4 KiB) without regrowing.
	b := &batch{family: family, w: writer{b: make([]byte, 0, 8<<10)}}
	m := b.w.msg(unix.NFNL_MSG_BATCH_BEGIN, 0, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	b.w.endMsg(m)
	// The kernel reports a failed commit against the BATCH_BEGIN message.
	b.what = append(b.what, "commit")
	return b
}

// start opens an nf_tables message that asks for an ack, so that every
// message gets an answer and the wait for them has a known end.
func (b *batch) start(typ, flags uint16, what string) int {
	b.what = append(b.what, what)
	return b.w.msg(unix.NFNL_SUBSYS_NFTABLES<<8|typ, flags|unix.NLM_F_ACK, b.family, 0)
}

// newTable adds the nat table, or keeps the one that exists (no EXCL).
func (b *batch) newTable() {
	m := b.start(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE, "table "+table)
	b.w.str(unix.NFTA_TABLE_NAME, table)
	b.w.endMsg(m)
}

// newUserChain declares a user chain; it must not exist yet.
func (b *batch) newUserChain(name string) {
	m := b.start(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE|unix.NLM_F_EXCL, "chain "+name)
	b.w.str(unix.NFTA_CHAIN_TABLE, table)
	b.w.str(unix.NFTA_CHAIN_NAME, name)
	b.w.endMsg(m)
}

// newBaseChain creates a builtin chain as iptables-nft does: hook and
// priority, policy accept, type nat. Without EXCL, as iptables sends it.
func (b *batch) newBaseChain(name string, bc builtin) {
	m := b.start(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE, "builtin chain "+name)
	b.w.str(unix.NFTA_CHAIN_TABLE, table)
	b.w.str(unix.NFTA_CHAIN_NAME, name)
	h := b.w.begin(unix.NFTA_CHAIN_HOOK)
	b.w.u32(unix.NFTA_HOOK_HOOKNUM, bc.hook)
	b.w.u32(unix.NFTA_HOOK_PRIORITY, uint32(bc.priority))
	b.w.end(h)
	b.w.u32(unix.NFTA_CHAIN_POLICY, nfAccept)
	b.w.str(unix.NFTA_CHAIN_TYPE, "nat")
	b.w.endMsg(m)
}

// newRule adds r: appended (-A, NLM_F_APPEND) or at the head of the
// chain (-I, no position). NFTA_RULE_COMPAT carries the rule's protocol,
// which xt matches such as multiport check; iptables-nft sends it on
// every rule (protocol 0 without -p) and the kernel does not dump it.
func (b *batch) newRule(r rule, i int) {
	flags := uint16(unix.NLM_F_CREATE)
	if !r.insert {
		flags |= unix.NLM_F_APPEND
	}
	m := b.start(unix.NFT_MSG_NEWRULE, flags, fmt.Sprintf("rule %d (%s)", i+1, r.original))
	b.w.str(unix.NFTA_RULE_TABLE, table)
	b.w.str(unix.NFTA_RULE_CHAIN, r.chain)
	b.expressions(r)
	c := b.w.begin(unix.NFTA_RULE_COMPAT)
	proto := uint32(0)
	if r.tcp {
		proto = unix.IPPROTO_TCP
	}
	b.w.u32(unix.NFTA_RULE_COMPAT_PROTO, proto)
	b.w.u32(unix.NFTA_RULE_COMPAT_FLAGS, 0)
	b.w.end(c)
	b.w.endMsg(m)
}

// commit sends the batch and waits for one answer per message. Errors are
// delivered in message order once the kernel has processed the whole
// batch, so the first one is the object that failed first.
func (b *batch) commit() error {
	m := b.w.msg(unix.NFNL_MSG_BATCH_END, 0, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	b.w.endMsg(m)
	end := b.w.seq
	fd, err := open()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, b.w.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("nftables: sending the batch (%d bytes): %w", len(b.w.b), err)
	}
	pending := map[uint32]bool{}
	for seq := uint32(2); seq < end; seq++ {
		pending[seq] = true
	}
	buf := make([]byte, 8192)
	for len(pending) > 0 {
		msgs, err := receive(fd, buf)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			if msg.typ != unix.NLMSG_ERROR || msg.seq == 0 || msg.seq >= end {
				continue
			}
			if e := msg.errno(); e != 0 {
				return fmt.Errorf("nftables: %s in table %s %s: %w", b.what[msg.seq-1], familyName(b.family), table, e)
			}
			delete(pending, msg.seq)
		}
	}
	return nil
}

// familyName is the family as nft(8) names it, for error messages.
func familyName(nfproto uint8) string {
	if nfproto == unix.NFPROTO_IPV6 {
		return "ip6"
	}
	return "ip"
}
