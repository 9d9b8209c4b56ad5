package nftables

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
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
// gives an empty listing and no error. It reads the kernel's raw
// attributes rather than the library's parsed objects (nftables.Conn's
// GetRules), which keep only the fields they know.
func Dump(f rules.Family) ([]byte, error) {
	fam, err := nfproto(f)
	if err != nil {
		return nil, err
	}
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.close()
	// Three dumps are three reads; the generation id before and after
	// tells whether a commit came in between, and then it starts over.
	for range 5 {
		var objs [3][]netlink.Message
		gen, err := generation(c)
		for i, cmd := range []uint16{unix.NFT_MSG_GETTABLE, unix.NFT_MSG_GETCHAIN, unix.NFT_MSG_GETRULE} {
			if err == nil {
				objs[i], err = request(c, cmd, netlink.Dump, fam, nil)
			}
		}
		var after uint32
		if err == nil {
			after, err = generation(c)
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

// request sends one GET message and collects the answers: every message
// up to NLMSG_DONE for a dump, the single reply otherwise (an error
// answer, which the kernel sends unasked, is an error).
func request(c *conn, cmd uint16, flags netlink.HeaderFlags, family uint8, data []byte) ([]netlink.Message, error) {
	seq, err := c.send(message(nftType(cmd), flags, family, data))
	if err != nil {
		return nil, err
	}
	var out []netlink.Message
	for {
		msgs, err := c.receive()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch {
			case m.Header.Sequence != seq:
				continue
			case m.Header.Flags&netlink.DumpInterrupted != 0:
				return nil, errChanged
			case m.Header.Type == netlink.Done:
				return out, nil
			case m.Header.Type == netlink.Error:
				if e := errno(m); e != 0 {
					return nil, fmt.Errorf("nftables: listing: %w", e)
				}
				return out, nil
			}
			m.Data = bytes.Clone(m.Data) // the buffer is reused by the next read
			out = append(out, m)
			if flags&netlink.Dump == 0 {
				return out, nil
			}
		}
	}
}

// generation is the ruleset's generation id, which every commit changes.
func generation(c *conn) (uint32, error) {
	msgs, err := request(c, unix.NFT_MSG_GETGEN, 0, unix.AF_UNSPEC, nil)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		as, _ := attributes(m.Data[min(len(m.Data), 4):])
		for _, a := range as {
			if a.typ == unix.NFTA_GEN_ID && len(a.data) == 4 {
				return binary.BigEndian.Uint32(a.data), nil
			}
		}
	}
	return 0, fmt.Errorf("nftables: no generation id in the kernel's answer")
}

// HasNATTable says whether the calling thread's network namespace has
// table nat of family f, asking the kernel (NFT_MSG_GETTABLE). The answer
// is false with a nil error only when the kernel said there is no such
// table (ENOENT); any other failure is an error: the caller does not
// know. It is asked on this package's socket, not with the library's
// nftables.Conn.ListTableOfFamily, whose socket layer costs several times
// the question itself from a locked thread (see conn), and it is asked
// once per family on every ADD.
func HasNATTable(f rules.Family) (bool, error) {
	fam, err := nfproto(f)
	if err != nil {
		return false, err
	}
	c, err := dial()
	if err != nil {
		return false, err
	}
	defer c.close()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_TABLE_NAME, table)
	name, err := ae.Encode()
	if err == nil {
		_, err = request(c, unix.NFT_MSG_GETTABLE, 0, fam, name)
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("nftables: asking for table %s %s: %w", familyName(fam), table, err)
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
