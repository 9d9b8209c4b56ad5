package nftables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// parseDst reads ADDR or ADDR/PREFIX of the rule's family and clears the
// host bits, as iptables does (2.2.2.2/24 is saved as 2.2.2.0/24).
func parseDst(fam Family, s string) (netip.Prefix, error) {
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	switch {
	case err != nil:
		return p, fmt.Errorf("not an address or address/prefix-length")
	case p.Addr().Zone() != "":
		return p, fmt.Errorf("zones are not supported")
	case (fam == IPv4) != p.Addr().Is4():
		return p, fmt.Errorf("address of the other family")
	case p.Bits() == 0:
		return p, fmt.Errorf("prefix length 0 is not supported")
	}
	return p.Masked(), nil
}

// parseUint reads a plain decimal number. Leading zeros, signs and hex are
// refused: iptables reads some numbers with base 0, where 010 is octal.
func parseUint(s string, bits int) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("not a plain decimal number")
	}
	return strconv.ParseUint(s, 10, bits)
}

// parsePort reads a single port, 1 to 65535; ranges and service names
// are not supported.
func parsePort(s string) (uint16, error) {
	n, err := parseUint(s, 16)
	if err == nil && n == 0 {
		err = fmt.Errorf("port 0")
	}
	return uint16(n), err
}

// parsePorts reads multiport's comma-separated list: 1 to 15 single
// ports, the most one xt_multiport_v1 match holds.
func parsePorts(s string) ([]uint16, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxMultiport {
		return nil, fmt.Errorf("more than %d ports", maxMultiport)
	}
	ports := make([]uint16, len(parts))
	for i, p := range parts {
		var err error
		if ports[i], err = parsePort(p); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// maxIfaceName is IFNAMSIZ less the NUL.
const maxIfaceName = 15

// iface sets *dst to the interface of -i or -o: a name of the characters
// pkg/rules accepts, or a prefix of one followed by + (any interface
// whose name starts so).
func iface(dst *string, tok, val string) error {
	if *dst != "" {
		return unsupported(tok, "given twice")
	}
	name := strings.TrimSuffix(val, "+")
	ok := name != "" && len(val) <= maxIfaceName && name[0] != '-'
	for _, c := range name {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.@-", c))
	}
	if !ok {
		return unsupported(val, "not an interface name or name+ prefix")
	}
	*dst = val
	return nil
}

// parseDNAT reads --to-destination ADDR, or ADDR:PORT for IPv4 when the
// rule has -p (iptables refuses a port without one). Ranges, IPv6 ports
// ([ADDR]:PORT) and zones are not supported.
func parseDNAT(fam Family, s string, proto bool) (netip.Addr, uint16, error) {
	addr, port := s, uint16(0)
	if fam == IPv4 {
		if a, p, ok := strings.Cut(s, ":"); ok {
			if !proto {
				return netip.Addr{}, 0, fmt.Errorf("a port needs -p tcp or -p udp")
			}
			var err error
			if port, err = parsePort(p); err != nil {
				return netip.Addr{}, 0, err
			}
			addr = a
		}
	}
	a, err := netip.ParseAddr(addr)
	switch {
	case err != nil:
		return a, 0, fmt.Errorf("not a single address")
	case a.Zone() != "" || a.Is4In6():
		return a, 0, fmt.Errorf("zones and mapped addresses are not supported")
	case (fam == IPv4) != a.Is4():
		return a, 0, fmt.Errorf("address of the other family")
	}
	return a, port, nil
}

func protoName(p uint8) string {
	if p == unix.IPPROTO_UDP {
		return "udp"
	}
	return "tcp"
}

func (r *rule) find(name string) *match {
	for i := range r.matches {
		if r.matches[i].name == name {
			return &r.matches[i]
		}
	}
	return nil
}

// load returns the named match, adding it to the rule's list the first
// time: iptables keeps matches in the order they were loaded.
func (r *rule) load(name string) *match {
	if m := r.find(name); m != nil {
		return m
	}
	r.matches = append(r.matches, match{name: name})
	return &r.matches[len(r.matches)-1]
}
