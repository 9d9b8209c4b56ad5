package rules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// splitList splits a comma-separated list the way OSM read its
// annotations and ConfigMap values: entries trimmed of spaces; an empty or
// blank string is an empty list, but an empty entry inside one is a typo.
func splitList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("empty entry in list %q", s)
		}
	}
	return parts, nil
}

// ParsePortList parses "6379, 7070" into ports. Port 0 and ports above
// 65535 are rejected (OSM accepted 70000: a bug not copied).
func ParsePortList(s string) ([]uint16, error) {
	parts, err := splitList(s)
	if err != nil {
		return nil, err
	}
	if parts == nil {
		return nil, nil
	}
	ports := make([]uint16, 0, len(parts))
	for _, p := range parts {
		port, err := ParsePort(p)
		if err != nil {
			return nil, err
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// ParsePort parses one TCP port, 1-65535, in decimal.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

// ParseCIDRList parses "1.1.1.1/32, 2.2.2.2/24" into IP ranges, keeping
// each one's text. Host bits may be set, as OSM allowed; a missing prefix
// length or a malformed address is rejected.
func ParseCIDRList(s string) ([]string, error) {
	parts, err := splitList(s)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if _, err := parseCIDR(p); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// parseCIDR also refuses IPv4-mapped IPv6 ranges (::ffff:10.0.0.0/104):
// FamilyOf files them under IPv4, where iptables-restore fails on the
// mask with a message that names neither the value nor where it came from.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid IP range %q", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("invalid IP range %q: an IPv4-mapped IPv6 range; %s", s, mappedAdvice(p))
	}
	return p, nil
}

// mappedAdvice says how to write a mapped range p instead: as the IPv4
// range it stands for, host bits kept as OSM allowed them. A prefix
// shorter than the mapping's 96 bits reaches beyond mapped addresses, so
// it has no IPv4 equivalent.
func mappedAdvice(p netip.Prefix) string {
	if p.Bits() < 96 {
		return "write IPv4 ranges as IPv4"
	}
	return fmt.Sprintf("write the IPv4 range (%s)", netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96))
}

// ParseInterfaceList parses "eth0, eth1" into interface names.
func ParseInterfaceList(s string) ([]string, error) {
	parts, err := splitList(s)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := validateInterface(p); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// validateInterface accepts the names interfaces really have (at most 15
// bytes of letters, digits, '_', '.', '@', '-', not starting with '-'),
// with iptables' wildcard '+' at the end. The kernel allows more, but a
// name like "-j" or one holding shell quotes would turn the rendered rules
// into something else.
func validateInterface(s string) error {
	ok := s != "" && len(s) <= 15 && s[0] != '-' && s != "." && s != ".."
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_.@-", r):
		case r == '+' && i == len(s)-1:
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid network interface %q", s)
	}
	return nil
}

// MergePorts joins the mesh-wide and the pod's port lists as OSM did:
// global first, then the pod's, without repeats.
func MergePorts(global, pod []uint16) []uint16 {
	return dedupe(append(append([]uint16{}, global...), pod...))
}

// MergeCIDRs joins the pod's and the mesh-wide IP ranges as OSM did: the
// pod's first, then global, without repeats of the same text.
func MergeCIDRs(pod, global []string) []string {
	return dedupe(append(append([]string{}, pod...), global...))
}

func dedupe[T comparable](in []T) []T {
	if len(in) == 0 {
		return nil
	}
	seen := make(map[T]bool, len(in))
	out := in[:0]
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
