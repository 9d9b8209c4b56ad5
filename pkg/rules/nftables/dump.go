package nftables

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Attribute numbers from linux/netfilter/nf_tables.h that x/sys/unix
// lacks; Dump leaves these out, with the NFTA_*_USE counts and handles.
const (
	nftaTableHandle    = 4  // NFTA_TABLE_HANDLE
	nftaChainID        = 11 // NFTA_CHAIN_ID
	nftaRulePositionID = 10 // NFTA_RULE_POSITION_ID
	nftaRuleChainID    = 11 // NFTA_RULE_CHAIN_ID
	nftaBitwiseData    = 7  // NFTA_BITWISE_DATA
)

// shape says which attributes hold further attributes: the kernel does
// not flag all of them with NLA_F_NESTED. A type present in the map is
// nested, with the shape of its content; any other is printed in hex.
type shape map[uint16]shape

var errChanged = errors.New("ruleset changed while listing it")

// chainShape is a chain's: its hook attribute holds further attributes.
func chainShape() shape { return shape{unix.NFTA_CHAIN_HOOK: nil} }

// exprShape is the shape of the named expression's data. Functions, not
// package-level maps: the plugin, started afresh for every pod, would
// build maps at every start for the rare Dump.
func exprShape(name string) shape {
	nftData := shape{unix.NFTA_DATA_VERDICT: nil}
	switch name {
	case "cmp":
		return shape{unix.NFTA_CMP_DATA: nftData}
	case "immediate":
		return shape{unix.NFTA_IMMEDIATE_DATA: nftData}
	case "bitwise":
		return shape{unix.NFTA_BITWISE_MASK: nftData, unix.NFTA_BITWISE_XOR: nftData, nftaBitwiseData: nftData}
	}
	return nil
}

// Dump lists table nat of family f in the calling thread's network
// namespace, in a canonical text form meant for comparing two namespaces:
// the table, its chains in the kernel's order, and under each chain its
// rules in order, one line per expression, every attribute the kernel
// reports as type=hex (nested ones as type={...}), in the kernel's order.
// Left out is only what differs between two equal rule sets: handles,
// rule positions, NFTA_*_USE counts, ids. A namespace without the table
// gives an empty listing and no error.
func Dump(f Family) ([]byte, error) {
	fam, err := f.nfproto()
	if err != nil {
		return nil, err
	}
	fd, err := open()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	c := &dumper{fd: fd, buf: make([]byte, 64<<10)}
	// Three dumps are three reads; the generation id before and after
	// tells whether a commit came in between, and then it starts over.
	for range 5 {
		var objs [3][]message
		gen, err := c.gen()
		for i, typ := range []uint16{unix.NFT_MSG_GETTABLE, unix.NFT_MSG_GETCHAIN, unix.NFT_MSG_GETRULE} {
			if err == nil {
				objs[i], err = c.request(typ, unix.NLM_F_DUMP, fam)
			}
		}
		var after uint32
		if err == nil {
			after, err = c.gen()
		}
		if err == nil && gen == after {
			return format(f, objs[0], objs[1], objs[2])
		}
		if err != nil && !errors.Is(err, errChanged) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("nftables: %w, five times", errChanged)
}

// dumper asks the kernel questions on one socket.
type dumper struct {
	fd  int
	seq uint32
	buf []byte
}

// request sends one GET message and collects the answers: every message
// up to NLMSG_DONE for a dump, the single reply otherwise.
func (c *dumper) request(typ, flags uint16, family uint8) ([]message, error) {
	w := writer{seq: c.seq}
	m := w.msg(unix.NFNL_SUBSYS_NFTABLES<<8|typ, flags, family, 0)
	w.endMsg(m)
	c.seq = w.seq
	if err := unix.Sendto(c.fd, w.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("nftables: netlink send: %w", err)
	}
	var out []message
	for {
		msgs, err := receive(c.fd, c.buf)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch {
			case m.seq != c.seq:
				continue
			case m.flags&unix.NLM_F_DUMP_INTR != 0:
				return nil, errChanged
			case m.typ == unix.NLMSG_DONE:
				return out, nil
			case m.typ == unix.NLMSG_ERROR:
				if e := m.errno(); e != 0 {
					return nil, fmt.Errorf("nftables: listing: %w", e)
				}
				return out, nil
			}
			m.data = bytes.Clone(m.data) // buf is reused by the next read
			out = append(out, m)
			if flags&unix.NLM_F_DUMP == 0 {
				return out, nil
			}
		}
	}
}

// gen is the ruleset's generation id, which every commit changes.
func (c *dumper) gen() (uint32, error) {
	msgs, err := c.request(unix.NFT_MSG_GETGEN, 0, unix.AF_UNSPEC)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		as, _ := attributes(m.data[min(len(m.data), 4):])
		for _, a := range as {
			if a.typ == unix.NFTA_GEN_ID && len(a.data) == 4 {
				return be.Uint32(a.data), nil
			}
		}
	}
	return 0, fmt.Errorf("nftables: no generation id in the kernel's answer")
}

// str reads a string attribute's value without its NUL.
func str(as []attribute, typ uint16) string {
	for _, a := range as {
		if a.typ == typ {
			return string(bytes.TrimRight(a.data, "\x00"))
		}
	}
	return ""
}
