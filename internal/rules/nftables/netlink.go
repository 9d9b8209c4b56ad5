package nftables

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ackTimeout bounds each wait for the kernel's answer, so that a wedged
// netlink socket cannot hang a CNI ADD.
const ackTimeout = 5 * time.Second

// nlaTypeMask is ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER).
const nlaTypeMask = 0x3fff

// conn is a netfilter netlink socket in the calling thread's network
// namespace. Messages and attributes are the library's (mdlayher/netlink,
// which google/nftables is built on), but not its Conn: its socket layer
// starts a goroutine for every read and write and waits for it, which
// from the caller's locked OS thread means a hand-over to another thread
// per system call, which cost a Write of the default set several times
// what the kernel takes for the whole batch. So the socket is a plain
// blocking one.
type conn struct {
	fd  int
	seq uint32
	buf []byte
}

// dial opens the socket with the receive timeout set and error answers
// cut down to the failing message's header (NETLINK_CAP_ACK): the
// sequence number is all that is needed to tell which message failed.
func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("nftables: netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(ackTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nftables: SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nftables: NETLINK_CAP_ACK: %w", err)
	}
	// 8 KiB holds any single answer here (an nf_tables object or an ack)
	// and a dump's batch of them; the kernel splits dumps to fit.
	return &conn{fd: fd, buf: make([]byte, 8<<10)}, nil
}

func (c *conn) close() { unix.Close(c.fd) }

// send numbers the messages and sends them in one datagram; it returns
// the sequence number of the first.
func (c *conn) send(msgs ...netlink.Message) (uint32, error) {
	var out []byte
	first := c.seq + 1
	for _, m := range msgs {
		c.seq++
		m.Header.Sequence = c.seq
		m.Header.Length = uint32(unix.NLMSG_HDRLEN + len(m.Data))
		b, err := m.MarshalBinary()
		if err != nil {
			return 0, fmt.Errorf("nftables: encoding a netlink message: %w", err)
		}
		out = append(out, b...)
	}
	if err := unix.Sendto(c.fd, out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("nftables: sending %d bytes: %w", len(out), err)
	}
	return first, nil
}

// receive reads one datagram and splits it into messages, whose data
// stays valid until the next receive.
func (c *conn) receive() ([]netlink.Message, error) {
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil, fmt.Errorf("nftables: no answer from the kernel within %s", ackTimeout)
		case err != nil:
			return nil, fmt.Errorf("nftables: netlink receive: %w", err)
		}
		return parseMessages(c.buf[:n])
	}
}

// parseMessages splits a datagram from the kernel into its messages,
// whose data points into b.
func parseMessages(b []byte) ([]netlink.Message, error) {
	raw, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("nftables: malformed netlink answer: %w", err)
	}
	msgs := make([]netlink.Message, len(raw))
	for i, r := range raw {
		msgs[i] = netlink.Message{Data: r.Data, Header: netlink.Header{
			Length: r.Header.Len, Type: netlink.HeaderType(r.Header.Type),
			Flags: netlink.HeaderFlags(r.Header.Flags), Sequence: r.Header.Seq, PID: r.Header.Pid,
		}}
	}
	return msgs, nil
}

// errno is the error code of an NLMSG_ERROR message (0 for an ack).
func errno(m netlink.Message) unix.Errno {
	if len(m.Data) < 4 {
		return unix.EBADMSG
	}
	return unix.Errno(-int32(ne.Uint32(m.Data)))
}

// message is an nf_tables request: nfgenmsg (family, version, resource
// id 0) and then data.
func message(typ uint16, flags netlink.HeaderFlags, family uint8, data []byte) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags},
		Data:   append([]byte{family, unix.NFNETLINK_V0, 0, 0}, data...),
	}
}

// nftType is the message type of an nf_tables command.
func nftType(cmd uint16) uint16 { return unix.NFNL_SUBSYS_NFTABLES<<8 | cmd }

// attribute is one parsed netlink attribute, flags stripped from typ.
type attribute struct {
	typ    uint16
	nested bool // NLA_F_NESTED was set
	data   []byte
}

// attributes parses a run of attributes; a malformed or truncated one is
// an error rather than silently dropped, since Dump must not hide content.
func attributes(b []byte) ([]attribute, error) {
	as, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	out := make([]attribute, len(as))
	for i, a := range as {
		out[i] = attribute{typ: a.Type & nlaTypeMask, nested: a.Type&netlink.Nested != 0, data: a.Data}
	}
	return out, nil
}
