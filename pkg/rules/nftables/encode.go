package nftables

import (
	"golang.org/x/sys/unix"
)

// Values from the kernel's UAPI that x/sys/unix does not carry.
const (
	nfAccept               = 1      // NF_ACCEPT (linux/netfilter.h)
	xtOwnerUID             = 1      // XT_OWNER_UID (xt_owner.h)
	xtMultiportDest        = 1      // XT_MULTIPORT_DESTINATION (xt_multiport.h)
	maxMultiport           = 15     // XT_MULTI_PORTS
	natRangeProtoSpecified = 2      // NF_NAT_RANGE_PROTO_SPECIFIED (nf_nat.h)
	nlaTypeMask            = 0x3fff // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)
)

// Where iptables-nft's payload expressions read the destination address
// and port: offsetof(struct iphdr, daddr), offsetof(struct ipv6hdr,
// daddr), offsetof(struct tcphdr, dest).
const (
	ipv4DstOffset = 16
	ipv6DstOffset = 24
	tcpDportOff   = 2
)

// Compat revisions iptables-nft 1.8.9 negotiates with current kernels.
const (
	ownerRev     = 1
	multiportRev = 1
	redirectRev  = 0
)

// expressions writes the rule's expressions in iptables-nft 1.8.9's
// order: the protocol, the destination (-p comes first whatever the order
// of the arguments), the matches as loaded, a zeroed counter, and the
// verdict or target.
func (b *batch) expressions(r rule) {
	w := &b.w
	list := w.begin(unix.NFTA_RULE_EXPRESSIONS)
	if r.tcp {
		e, d := b.expr("meta")
		w.u32(unix.NFTA_META_KEY, unix.NFT_META_L4PROTO)
		w.u32(unix.NFTA_META_DREG, unix.NFT_REG_1)
		b.endExpr(e, d)
		b.cmp(unix.IPPROTO_TCP)
	}
	if r.dst.IsValid() {
		b.dst(r)
	}
	for _, m := range r.matches {
		switch m.name {
		case "tcp":
			b.payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, tcpDportOff, 2)
			b.cmp(byte(m.port>>8), byte(m.port))
		case "owner":
			b.xt("match", "owner", ownerRev, ownerInfo(m.uid))
		case "multiport":
			b.xt("match", "multiport", multiportRev, multiportInfo(m.ports))
		}
	}
	e, d := b.expr("counter")
	w.u64(unix.NFTA_COUNTER_BYTES, 0)
	w.u64(unix.NFTA_COUNTER_PACKETS, 0)
	b.endExpr(e, d)
	switch r.target {
	case "RETURN":
		b.verdict(unix.NFT_RETURN, "")
	case "ACCEPT":
		b.verdict(nfAccept, "")
	case "REDIRECT":
		b.xt("target", "REDIRECT", redirectRev, redirectInfo(r.fam, r.toPort))
	default:
		b.verdict(unix.NFT_JUMP, r.target)
	}
	w.end(list)
}

// dst matches the destination address. A prefix of whole bytes compares
// just those bytes; any other prefix loads the whole address and masks it
// with a bitwise expression first, as iptables-nft does.
func (b *batch) dst(r rule) {
	addr := r.dst.Addr().AsSlice()
	off := uint32(ipv4DstOffset)
	if r.fam == IPv6 {
		off = ipv6DstOffset
	}
	bits := r.dst.Bits()
	if bits%8 == 0 {
		b.payload(unix.NFT_PAYLOAD_NETWORK_HEADER, off, uint32(bits/8))
		b.cmp(addr[:bits/8]...)
		return
	}
	b.payload(unix.NFT_PAYLOAD_NETWORK_HEADER, off, uint32(len(addr)))
	mask := make([]byte, len(addr))
	for i := range mask {
		if n := bits - 8*i; n >= 8 {
			mask[i] = 0xff
		} else if n > 0 {
			mask[i] = byte(0xff << (8 - n))
		}
	}
	w := &b.w
	e, d := b.expr("bitwise")
	w.u32(unix.NFTA_BITWISE_SREG, unix.NFT_REG_1)
	w.u32(unix.NFTA_BITWISE_DREG, unix.NFT_REG_1)
	w.u32(unix.NFTA_BITWISE_LEN, uint32(len(addr)))
	b.data(unix.NFTA_BITWISE_MASK, mask)
	b.data(unix.NFTA_BITWISE_XOR, make([]byte, len(addr)))
	b.endExpr(e, d)
	b.cmp(addr...)
}

// expr opens one expression: a list element holding its name and data.
func (b *batch) expr(name string) (elem, data int) {
	elem = b.w.begin(unix.NFTA_LIST_ELEM)
	b.w.str(unix.NFTA_EXPR_NAME, name)
	return elem, b.w.begin(unix.NFTA_EXPR_DATA)
}

func (b *batch) endExpr(elem, data int) {
	b.w.end(data)
	b.w.end(elem)
}

func (b *batch) payload(base, offset, length uint32) {
	e, d := b.expr("payload")
	b.w.u32(unix.NFTA_PAYLOAD_DREG, unix.NFT_REG_1)
	b.w.u32(unix.NFTA_PAYLOAD_BASE, base)
	b.w.u32(unix.NFTA_PAYLOAD_OFFSET, offset)
	b.w.u32(unix.NFTA_PAYLOAD_LEN, length)
	b.endExpr(e, d)
}

// cmp compares register 1 with value for equality.
func (b *batch) cmp(value ...byte) {
	e, d := b.expr("cmp")
	b.w.u32(unix.NFTA_CMP_SREG, unix.NFT_REG_1)
	b.w.u32(unix.NFTA_CMP_OP, unix.NFT_CMP_EQ)
	b.data(unix.NFTA_CMP_DATA, value)
	b.endExpr(e, d)
}

// data writes an nft_data attribute holding a plain value.
func (b *batch) data(typ uint16, value []byte) {
	n := b.w.begin(typ)
	b.w.attr(unix.NFTA_DATA_VALUE, value...)
	b.w.end(n)
}

// verdict writes an immediate verdict into the verdict register; chain
// is the jump target, empty for other verdicts.
func (b *batch) verdict(code int32, chain string) {
	w := &b.w
	e, d := b.expr("immediate")
	w.u32(unix.NFTA_IMMEDIATE_DREG, unix.NFT_REG_VERDICT)
	data := w.begin(unix.NFTA_IMMEDIATE_DATA)
	v := w.begin(unix.NFTA_DATA_VERDICT)
	w.u32(unix.NFTA_VERDICT_CODE, uint32(code))
	if chain != "" {
		w.str(unix.NFTA_VERDICT_CHAIN, chain)
	}
	w.end(v)
	w.end(data)
	b.endExpr(e, d)
}

// xt writes a compat "match" or "target" expression: an x_tables
// extension run by nf_tables, with its info struct as iptables fills it.
// NFTA_MATCH_* and NFTA_TARGET_* have the same numbers.
func (b *batch) xt(kind, name string, rev uint32, info []byte) {
	e, d := b.expr(kind)
	b.w.str(unix.NFTA_MATCH_NAME, name)
	b.w.u32(unix.NFTA_MATCH_REV, rev)
	b.w.attr(unix.NFTA_MATCH_INFO, info...)
	b.endExpr(e, d)
}

// ownerInfo is struct xt_owner_match_info {u32 uid_min, uid_max, gid_min,
// gid_max; u8 match, invert} for --uid-owner uid, padded to 8 bytes
// (XT_ALIGN) as iptables sends it.
func ownerInfo(uid uint32) []byte {
	info := make([]byte, 24)
	ne.PutUint32(info[0:], uid)
	ne.PutUint32(info[4:], uid)
	info[16] = xtOwnerUID
	return info
}

// multiportInfo is struct xt_multiport_v1 {u8 flags, count; u16
// ports[15]; u8 pflags[15]; u8 invert} for --dports: 48 bytes, ports in
// host order, no ranges.
func multiportInfo(ports []uint16) []byte {
	info := make([]byte, 48)
	info[0] = xtMultiportDest
	info[1] = byte(len(ports))
	for i, p := range ports {
		ne.PutUint16(info[2+2*i:], p)
	}
	return info
}

// redirectInfo is REDIRECT --to-ports port. IPv4 takes struct
// nf_nat_ipv4_multi_range_compat {u32 rangesize = 1; {u32 flags; be32
// min_ip, max_ip; be16 min, max port}}, padded to 24 bytes; IPv6 takes
// struct nf_nat_range {u32 flags; 16-byte min_addr, max_addr; be16 min,
// max port}, 40 bytes.
func redirectInfo(fam Family, port uint16) []byte {
	if fam == IPv6 {
		info := make([]byte, 40)
		ne.PutUint32(info[0:], natRangeProtoSpecified)
		be.PutUint16(info[36:], port)
		be.PutUint16(info[38:], port)
		return info
	}
	info := make([]byte, 24)
	ne.PutUint32(info[0:], 1)
	ne.PutUint32(info[4:], natRangeProtoSpecified)
	be.PutUint16(info[16:], port)
	be.PutUint16(info[18:], port)
	return info
}
