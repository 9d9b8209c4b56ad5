package nftables

import (
	"encoding/binary"
	"net"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Values from the kernel's UAPI that x/sys/unix does not carry.
const (
	nfAccept        = 1  // NF_ACCEPT (linux/netfilter.h)
	xtOwnerUID      = 1  // XT_OWNER_UID (xt_owner.h)
	xtMultiportDest = 1  // XT_MULTIPORT_DESTINATION (xt_multiport.h)
	maxMultiport    = 15 // XT_MULTI_PORTS
)

// Where iptables-nft's payload expressions read the destination address
// and port: offsetof(struct iphdr, daddr), offsetof(struct ipv6hdr,
// daddr), offsetof(struct tcphdr, dest) (the same in struct udphdr).
const (
	ipv4DstOffset = 16
	ipv6DstOffset = 24
	dportOffset   = 2
)

// Compat revisions iptables-nft 1.8.9 negotiates with current kernels.
const (
	ownerRev     = 1
	multiportRev = 1
	redirectRev  = 0
	dnatRev      = 2
)

// exprs are the rule's expressions in iptables-nft 1.8.9's order: the
// interfaces, the protocol, the destination (whatever the order of the
// arguments), the matches as loaded, a zeroed counter, and the verdict or
// target.
func exprs(r rules.Rule, fam rules.Family) []expr.Any {
	var out []expr.Any
	if r.In != "" {
		out = append(out, ifname(expr.MetaKeyIIFNAME, r.In)...)
	}
	if r.Out != "" {
		out = append(out, ifname(expr.MetaKeyOIFNAME, r.Out)...)
	}
	if r.Proto != 0 {
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: unix.NFT_REG_1}, cmp(expr.CmpOpEq, byte(r.Proto)))
	}
	if r.Dst.IsSet() {
		out = append(out, dst(r.Dst, fam)...)
	}
	for _, m := range r.Matches {
		switch m.Kind {
		case rules.MatchDPort:
			out = append(out, payload(expr.PayloadBaseTransportHeader, dportOffset, 2), cmp(expr.CmpOpEq, byte(m.Port>>8), byte(m.Port)))
		case rules.MatchOwner:
			out = append(out, xtMatch("owner", ownerRev, ownerInfo(m.UID, m.Not)))
		case rules.MatchMultiport:
			out = append(out, xtMatch("multiport", multiportRev, multiportInfo(m.Ports)))
		}
	}
	out = append(out, &expr.Counter{})
	switch t := r.Target; t.Kind {
	case rules.TargetReturn:
		return append(out, &expr.Verdict{Kind: expr.VerdictReturn})
	case rules.TargetAccept:
		return append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case rules.TargetRedirect:
		return append(out, &expr.Target{Name: "REDIRECT", Rev: redirectRev, Info: redirectInfo(fam, t.Port)})
	case rules.TargetDNAT:
		return append(out, &expr.Target{Name: "DNAT", Rev: dnatRev, Info: dnatInfo(t)})
	}
	return append(out, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.Target.Chain})
}

// ifname compares the interface name with its NUL, so that only that
// name matches; a name+ prefix is compared without.
func ifname(key expr.MetaKey, name string) []expr.Any {
	value := []byte(name + "\x00")
	if name[len(name)-1] == '+' {
		value = value[:len(name)-1]
	}
	return []expr.Any{&expr.Meta{Key: key, Register: unix.NFT_REG_1}, cmp(expr.CmpOpEq, value...)}
}

// dst matches the destination address (or, for ! -d, any other), with
// its host bits cleared as iptables stores it. A prefix of whole bytes
// compares just those bytes; any other prefix loads the whole address and
// masks it with a bitwise expression first, as iptables-nft does.
func dst(d rules.Dst, fam rules.Family) []expr.Any {
	pfx := d.Net.Masked()
	addr := pfx.Addr().AsSlice()
	off := uint32(ipv4DstOffset)
	if fam == rules.IPv6 {
		off = ipv6DstOffset
	}
	op := expr.CmpOpEq
	if d.Not {
		op = expr.CmpOpNeq
	}
	bits := pfx.Bits()
	if bits%8 == 0 {
		return []expr.Any{payload(expr.PayloadBaseNetworkHeader, off, uint32(bits/8)), cmp(op, addr[:bits/8]...)}
	}
	mask := net.CIDRMask(bits, len(addr)*8)
	return []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, off, uint32(len(addr))),
		&expr.Bitwise{SourceRegister: unix.NFT_REG_1, DestRegister: unix.NFT_REG_1, Len: uint32(len(addr)), Mask: mask, Xor: make([]byte, len(addr))},
		cmp(op, addr...),
	}
}

func payload(base expr.PayloadBase, offset, length uint32) *expr.Payload {
	return &expr.Payload{DestRegister: unix.NFT_REG_1, Base: base, Offset: offset, Len: length}
}

// cmp compares register 1 with value.
func cmp(op expr.CmpOp, value ...byte) *expr.Cmp {
	return &expr.Cmp{Op: op, Register: unix.NFT_REG_1, Data: value}
}

// xtMatch is a compat match: an x_tables extension run by nf_tables,
// with its info struct as iptables fills it.
func xtMatch(name string, rev uint32, info []byte) *expr.Match {
	raw := xt.Unknown(info)
	return &expr.Match{Name: name, Rev: rev, Info: &raw}
}

// Netlink headers and the xt info structs below are the kernel's structs
// in host order, except where a field is network order (be16 ports).
var ne = binary.NativeEndian

// ownerInfo is struct xt_owner_match_info {u32 uid_min, uid_max, gid_min,
// gid_max; u8 match, invert} for [!] --uid-owner uid, padded to 8 bytes
// (XT_ALIGN) as iptables sends it.
func ownerInfo(uid uint32, invert bool) []byte {
	info := make([]byte, 24)
	ne.PutUint32(info[0:], uid)
	ne.PutUint32(info[4:], uid)
	info[16] = xtOwnerUID
	if invert {
		info[17] = xtOwnerUID
	}
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

// redirectInfo is REDIRECT --to-ports port: for IPv4 an
// nf_nat_ipv4_multi_range_compat of one range, for IPv6 an nf_nat_range,
// either with only the port range set.
func redirectInfo(fam rules.Family, port uint16) xt.InfoAny {
	if fam == rules.IPv6 {
		return &xt.NatRange{Flags: uint(xt.NatRangeProtoSpecified), MinIP: net.IPv6zero, MaxIP: net.IPv6zero, MinPort: port, MaxPort: port}
	}
	return &xt.NatIPv4MultiRangeCompat{{Flags: uint(xt.NatRangeProtoSpecified), MinIP: net.IPv4zero, MaxIP: net.IPv4zero, MinPort: port, MaxPort: port}}
}

// dnatInfo is DNAT --to-destination ADDR[:PORT]: an nf_nat_range2 with
// the one address, and the one port when given.
func dnatInfo(t rules.Target) xt.InfoAny {
	flags := xt.NatRangeMapIPs
	if t.Port != 0 {
		flags |= xt.NatRangeProtoSpecified
	}
	ip := net.IP(t.Addr.AsSlice())
	return &xt.NatRange2{NatRange: xt.NatRange{Flags: uint(flags), MinIP: ip, MaxIP: ip, MinPort: t.Port, MaxPort: t.Port}}
}
