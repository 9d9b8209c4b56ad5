package main

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// soOriginalDst is SO_ORIGINAL_DST from linux/netfilter_ipv4.h; the same
// number serves IP6T_SO_ORIGINAL_DST at level IPPROTO_IPV6.
const soOriginalDst = 80

// originalDst asks netfilter where the connection was going before a
// REDIRECT rewrote it.
func originalDst(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var addr [28]byte // large enough for sockaddr_in6
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		level := syscall.IPPROTO_IP
		if la, ok := c.LocalAddr().(*net.TCPAddr); ok && la.IP.To4() == nil {
			level = syscall.IPPROTO_IPV6
		}
		size := uint32(len(addr))
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, uintptr(level), soOriginalDst,
			uintptr(unsafe.Pointer(&addr[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			sockErr = errno
		}
	}); err != nil {
		return "", err
	}
	if sockErr != nil {
		return "", fmt.Errorf("SO_ORIGINAL_DST: %w", sockErr)
	}
	port := uint16(addr[2])<<8 | uint16(addr[3])
	if addr[0] == syscall.AF_INET6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(addr[8:24])), port).String(), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr[4:8])), port).String(), nil
}
