package rules

import (
	"net/netip"
	"strconv"
	"strings"
)

// A rule is data: where it goes (Op, Chain), what it matches (Proto, In,
// Out, Dst: iptables' rule header; Matches: its match modules, in the
// order iptables loads them) and what it does (Target). Every form the
// rule takes is rendered from that one value: the iptables-restore
// document and the osm-init command line as OSM wrote them (String), the
// spelling iptables-save prints, which comparisons use (saved), and the
// kernel's nf_tables expressions (package nftables). What iptables-save
// prints and what osm-init ran are read back into it by one parser
// (parse.go).

// Op says where a rule goes in its chain.
type Op string

const (
	// Append adds the rule at the end of the chain (-A).
	Append Op = "-A"
	// Insert adds the rule at the top of the chain (-I); OSM inserted its
	// exclusions, so the live order is the reverse of the written one.
	Insert Op = "-I"
)

// Proto is the protocol a rule matches (-p), as its IP protocol number.
type Proto uint8

const (
	// ProtoTCP is -p tcp.
	ProtoTCP Proto = 6
	// ProtoUDP is -p udp.
	ProtoUDP Proto = 17
)

// String is the protocol's name as iptables prints it.
func (p Proto) String() string {
	if p == ProtoUDP {
		return "udp"
	}
	return "tcp"
}

// Dst is a rule's destination (-d): the address or range as the
// configuration (or the text read) spelled it, and what it parses to,
// host bits kept; without Text, Net is written as Net.String(). The zero
// Dst matches every destination.
type Dst struct {
	Text string
	Net  netip.Prefix
	// Not is "! -d": every destination but Net.
	Not bool
}

// IsSet says whether the rule matches a destination.
func (d Dst) IsSet() bool { return d.Net.IsValid() }

// MatchKind names one of the match modules mesh-cni's rules load.
type MatchKind uint8

const (
	// MatchDPort is the protocol's own match (tcp or udp, named after
	// the rule's Proto) with --dport: iptables loads it implicitly for
	// `-p tcp --dport N`.
	MatchDPort MatchKind = iota + 1
	// MatchMultiport is -m multiport --dports.
	MatchMultiport
	// MatchOwner is -m owner [!] --uid-owner.
	MatchOwner
)

// Match is one match module of a rule, with its option.
type Match struct {
	Kind MatchKind
	// Port is MatchDPort's destination port.
	Port uint16
	// Ports are MatchMultiport's destination ports.
	Ports []uint16
	// UID is MatchOwner's uid; Not is "! --uid-owner".
	UID uint32
	Not bool
}

// TargetKind names what a rule does.
type TargetKind uint8

const (
	// TargetJump jumps to the user chain Target.Chain.
	TargetJump TargetKind = iota + 1
	// TargetReturn is -j RETURN.
	TargetReturn
	// TargetAccept is -j ACCEPT.
	TargetAccept
	// TargetRedirect is -j REDIRECT --to-ports Target.Port.
	TargetRedirect
	// TargetDNAT is -j DNAT --to-destination Target.Addr, with
	// Target.Port when it is not 0.
	TargetDNAT
)

// Target is what a matching packet gets.
type Target struct {
	Kind  TargetKind
	Chain string
	Port  uint16
	// Addr is DNAT's address; the zero Addr stands for the pod's address
	// where it is not known yet (PodIPPlaceholder), which renders for
	// people but cannot be installed.
	Addr netip.Addr
}

// name is the target as -j names it.
func (t Target) name() string {
	switch t.Kind {
	case TargetReturn:
		return "RETURN"
	case TargetAccept:
		return "ACCEPT"
	case TargetRedirect:
		return "REDIRECT"
	case TargetDNAT:
		return "DNAT"
	}
	return t.Chain
}

// destination is DNAT's --to-destination value.
func (t Target) destination() string {
	switch {
	case !t.Addr.IsValid():
		return PodIPPlaceholder
	case t.Port == 0:
		return t.Addr.String()
	}
	return netip.AddrPortFrom(t.Addr, t.Port).String()
}

// Rule is one rule of the nat table (see the top of this file).
type Rule struct {
	Op    Op
	Chain string
	Proto Proto
	// In and Out are the -i and -o interfaces; a name ending in + is a
	// prefix.
	In, Out string
	Dst     Dst
	Matches []Match
	Target  Target
}

// String is the rule as an iptables-restore line, spelled as OSM wrote
// it: `-A CHAIN -p tcp --match multiport --dports 6379,7070 -j RETURN`.
func (r Rule) String() string {
	var b strings.Builder
	r.write(&b)
	return b.String()
}

// write writes String's line.
func (r Rule) write(b *strings.Builder) {
	b.WriteString(string(r.Op))
	b.WriteByte(' ')
	b.WriteString(r.Chain)
	r.writeArgs(b, written)
}

// saved is the rule's arguments (after -A CHAIN) as iptables-save prints
// them: `-p tcp -m multiport --dports 6379,7070 -j RETURN`. Comparisons
// of what is wanted with what a table holds are of this spelling.
func (r Rule) saved() string {
	var b strings.Builder
	r.writeArgs(&b, printed)
	return strings.TrimPrefix(b.String(), " ")
}

// spelling is one of the two ways a rule's arguments are written.
type spelling bool

const (
	// written is OSM's: -p, -i, -o, -d as given, the matches with
	// --match multiport and an implicit tcp match, --to-port.
	written spelling = false
	// printed is iptables-save's: -d masked, -i, -o, -p, every match
	// named, --to-ports.
	printed spelling = true
)

// writeArgs writes " ARG" for each argument of the rule in spelling sp.
func (r Rule) writeArgs(b *strings.Builder, sp spelling) {
	arg := func(parts ...string) {
		for _, p := range parts {
			b.WriteByte(' ')
			b.WriteString(p)
		}
	}
	dst := func() {
		if r.Dst.Not {
			arg("!")
		}
		if sp == written && r.Dst.Text != "" {
			arg("-d", r.Dst.Text)
		} else if sp == written {
			arg("-d", r.Dst.Net.String())
		} else {
			arg("-d", r.Dst.Net.Masked().String())
		}
	}
	// iptables prints no -d for a prefix of length 0: it matches all.
	hasDst := r.Dst.IsSet() && (sp == written || r.Dst.Not || r.Dst.Net.Bits() > 0)
	if sp == printed && hasDst {
		dst()
	}
	if r.Proto != 0 && sp == written {
		arg("-p", r.Proto.String())
	}
	if r.In != "" {
		arg("-i", r.In)
	}
	if r.Out != "" {
		arg("-o", r.Out)
	}
	if sp == written && hasDst {
		dst()
	}
	if r.Proto != 0 && sp == printed {
		arg("-p", r.Proto.String())
	}
	for _, m := range r.Matches {
		m.write(arg, r.Proto, sp)
	}
	arg("-j", r.Target.name())
	switch r.Target.Kind {
	case TargetRedirect:
		opt := "--to-port"
		if sp == printed {
			opt = "--to-ports"
		}
		arg(opt, strconv.Itoa(int(r.Target.Port)))
	case TargetDNAT:
		arg("--to-destination", r.Target.destination())
	}
}

// write writes the match in spelling sp through arg.
func (m Match) write(arg func(...string), proto Proto, sp spelling) {
	switch m.Kind {
	case MatchDPort:
		if sp == printed {
			arg("-m", proto.String())
		}
		arg("--dport", strconv.Itoa(int(m.Port)))
	case MatchMultiport:
		if sp == printed {
			arg("-m", "multiport")
		} else {
			arg("--match", "multiport")
		}
		arg("--dports", joinPorts(m.Ports))
	case MatchOwner:
		arg("-m", "owner")
		if m.Not {
			arg("!")
		}
		arg("--uid-owner", strconv.FormatUint(uint64(m.UID), 10))
	}
}

func joinPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}
