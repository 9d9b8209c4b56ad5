package rules

import (
	byteorder "encoding/binary"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nftNATMissing reports whether nf_tables certainly has no `nat` table of
// the family in the calling thread's network namespace, asking the kernel
// over netlink (NFT_MSG_GETTABLE) instead of running iptables-nft-save:
// in a new pod's namespace, where there is none, that saves one program
// per family on every ADD. Any answer but "no such table" (an old kernel,
// a netlink error) returns false, and the caller reads the table with
// iptables-nft-save as usual.
func nftNATMissing(fam Family) bool {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(time.Second.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return false
	}
	if err := unix.Sendto(fd, getTableRequest(fam), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false
	}
	// The answer is one short message (a table's attributes, or an error
	// quoting the request); a message cut short by a small buffer fails to
	// parse and means "don't know". 8 KiB, as netlink(7) advises: a 64 KiB
	// buffer, a large object for the Go heap, cost about 50µs a call here
	// (page faults and zeroing), more than the netlink round trip itself.
	var buf [8192]byte
	for {
		n, _, err := unix.Recvfrom(fd, buf[:], 0)
		if err != nil {
			return false
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return false
		}
		for _, m := range msgs {
			switch {
			case m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4:
				errno := -int32(byteorder.NativeEndian.Uint32(m.Data))
				return syscall.Errno(errno) == unix.ENOENT
			case m.Header.Type == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWTABLE:
				return false
			}
		}
	}
}

// getTableRequest is NFT_MSG_GETTABLE for the family's table "nat": a
// netlink header, nfgenmsg, and the NFTA_TABLE_NAME attribute.
func getTableRequest(fam Family) []byte {
	proto := byte(unix.NFPROTO_IPV4)
	if fam == IPv6 {
		proto = unix.NFPROTO_IPV6
	}
	name := []byte(Table + "\x00")
	attrLen := unix.SizeofNlAttr + len(name)
	size := unix.SizeofNlMsghdr + 4 + align4(attrLen)
	b := make([]byte, size)
	ne := byteorder.NativeEndian
	ne.PutUint32(b[0:], uint32(size))
	ne.PutUint16(b[4:], unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETTABLE)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(b[8:], 1) // sequence number
	h := unix.SizeofNlMsghdr
	b[h] = proto
	b[h+1] = unix.NFNETLINK_V0
	// res_id (big endian) stays 0.
	a := h + 4
	ne.PutUint16(b[a:], uint16(attrLen))
	ne.PutUint16(b[a+2:], unix.NFTA_TABLE_NAME)
	copy(b[a+unix.SizeofNlAttr:], name)
	return b
}

func align4(n int) int { return (n + 3) &^ 3 }
