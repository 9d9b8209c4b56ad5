package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Netlink headers are in host byte order; nf_tables attribute values are
// big-endian (network order), except the xt info blobs of compat matches
// and targets, which are the kernel's structs in host order.
var (
	ne = binary.NativeEndian
	be = binary.BigEndian
)

// ackTimeout bounds each wait for the kernel's answer, so that a wedged
// netlink socket cannot hang a CNI ADD.
const ackTimeout = 5 * time.Second

// writer appends netlink messages and attributes to one buffer. Nested
// attributes and messages are opened with their length left at zero and
// closed by end/endMsg, which write it once the content is known.
type writer struct {
	b   []byte
	seq uint32
}

// msg starts a netfilter message: nlmsghdr, then nfgenmsg (family,
// version, resource id in network order). It returns the message's offset.
func (w *writer) msg(typ, flags uint16, family uint8, resID uint16) int {
	start := len(w.b)
	w.seq++
	w.b = ne.AppendUint32(w.b, 0)
	w.b = ne.AppendUint16(w.b, typ)
	w.b = ne.AppendUint16(w.b, unix.NLM_F_REQUEST|flags)
	w.b = ne.AppendUint32(w.b, w.seq)
	w.b = ne.AppendUint32(w.b, 0)
	w.b = append(w.b, family, unix.NFNETLINK_V0)
	w.b = be.AppendUint16(w.b, resID)
	return start
}

func (w *writer) endMsg(start int) {
	ne.PutUint32(w.b[start:], uint32(len(w.b)-start))
}

// attr appends one attribute and pads it to 4 bytes with zeros.
func (w *writer) attr(typ uint16, data ...byte) {
	w.b = ne.AppendUint16(w.b, uint16(unix.SizeofNlAttr+len(data)))
	w.b = ne.AppendUint16(w.b, typ)
	w.b = append(w.b, data...)
	w.pad()
}

func (w *writer) pad() {
	for len(w.b)%unix.NLA_ALIGNTO != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *writer) u32(typ uint16, v uint32) {
	var a [4]byte
	be.PutUint32(a[:], v)
	w.attr(typ, a[:]...)
}

func (w *writer) u64(typ uint16, v uint64) {
	var a [8]byte
	be.PutUint64(a[:], v)
	w.attr(typ, a[:]...)
}

// str appends a NUL-terminated string attribute.
func (w *writer) str(typ uint16, s string) {
	w.b = ne.AppendUint16(w.b, uint16(unix.SizeofNlAttr+len(s)+1))
	w.b = ne.AppendUint16(w.b, typ)
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	w.pad()
}

// begin opens a nested attribute, flagged NLA_F_NESTED as iptables-nft
// (libnftnl) sends them; end closes it.
func (w *writer) begin(typ uint16) int {
	start := len(w.b)
	w.b = ne.AppendUint16(w.b, 0)
	w.b = ne.AppendUint16(w.b, typ|unix.NLA_F_NESTED)
	return start
}

func (w *writer) end(start int) {
	ne.PutUint16(w.b[start:], uint16(len(w.b)-start))
}

// open returns a netfilter netlink socket in the calling thread's network
// namespace, with the receive timeout set and error answers cut down to
// the failing message's header (NETLINK_CAP_ACK): the sequence number is
// all that is needed to tell which message failed.
func open() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return -1, fmt.Errorf("nftables: netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(ackTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("nftables: SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("nftables: NETLINK_CAP_ACK: %w", err)
	}
	return fd, nil
}

// message is one received netlink message.
type message struct {
	typ, flags uint16
	seq        uint32
	data       []byte // after the nlmsghdr
}

// errno is the error code of an NLMSG_ERROR message (0 for an ack).
func (m message) errno() unix.Errno {
	if len(m.data) < 4 {
		return unix.EBADMSG
	}
	return unix.Errno(-int32(ne.Uint32(m.data)))
}

// receive reads one datagram and splits it into messages.
func receive(fd int, buf []byte) ([]message, error) {
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil, fmt.Errorf("nftables: no answer from the kernel within %s", ackTimeout)
		case err != nil:
			return nil, fmt.Errorf("nftables: netlink receive: %w", err)
		}
		return split(buf[:n])
	}
}

func split(b []byte) ([]message, error) {
	var msgs []message
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, fmt.Errorf("nftables: malformed netlink message")
		}
		msgs = append(msgs, message{
			typ:   ne.Uint16(b[4:]),
			flags: ne.Uint16(b[6:]),
			seq:   ne.Uint32(b[8:]),
			data:  b[unix.NLMSG_HDRLEN:l],
		})
		b = b[min(nlAlign(l), len(b)):]
	}
	return msgs, nil
}

func nlAlign(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// attribute is one parsed netlink attribute, flags stripped from typ.
type attribute struct {
	typ    uint16
	nested bool // NLA_F_NESTED was set
	data   []byte
}

// attributes parses a run of attributes; a truncated tail is an error
// rather than silently dropped, since Dump must not hide content.
func attributes(b []byte) ([]attribute, error) {
	var out []attribute
	for len(b) > 0 {
		if len(b) < unix.SizeofNlAttr {
			return nil, fmt.Errorf("nftables: truncated attribute")
		}
		l, t := int(ne.Uint16(b)), ne.Uint16(b[2:])
		if l < unix.SizeofNlAttr || l > len(b) {
			return nil, fmt.Errorf("nftables: malformed attribute")
		}
		out = append(out, attribute{typ: t & nlaTypeMask, nested: t&unix.NLA_F_NESTED != 0, data: b[unix.SizeofNlAttr:l]})
		b = b[min(nlAlign(l), len(b)):]
	}
	return out, nil
}
