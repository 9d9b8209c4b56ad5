package nftables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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
