package nftables

import (
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ackTimeout bounds each exchange with the kernel, so that a wedged
// netlink socket cannot hang a CNI ADD.
const ackTimeout = 5 * time.Second

// nlaTypeMask is ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER).
const nlaTypeMask = 0x3fff

// dial opens a netfilter netlink socket in the calling thread's network
// namespace (netlink.Config's NetNS 0 means that thread's), with a
// deadline for everything done on it.
func dial() (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nftables: netlink socket: %w", err)
	}
	if err := c.SetDeadline(time.Now().Add(ackTimeout)); err != nil {
		c.Close()
		return nil, fmt.Errorf("nftables: netlink deadline: %w", err)
	}
	return c, nil
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
