package nftables

import (
	"bytes"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// batchBytes is the datagram of the table, chain and rule messages Write
// would send for rs: the objects, with their attributes, that the kernel
// lists back in a dump.
func batchBytes(t testing.TB, rs rules.RuleSet) []byte {
	t.Helper()
	fam, err := check(&rs)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(fam)
	b.newTable()
	for _, c := range rs.Chains {
		b.newUserChain(c)
	}
	for i, r := range rs.Rules {
		if bc, ok := builtinChain(r.Chain); ok {
			b.newBaseChain(r.Chain, bc)
		}
		b.newRule(r, rs.Family, i)
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return marshalMessages(t, b.msgs)
}

func marshalMessages(t testing.TB, msgs []netlink.Message) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		m.Header.Length = uint32(unix.NLMSG_HDRLEN + len(m.Data))
		raw, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw...)
	}
	return out
}

// listing is what Dump makes of a datagram holding the answers to its
// three dumps at once: the tables, chains and rules, told apart by their
// message types.
func listing(msgs []netlink.Message) ([]byte, error) {
	var objs [3][]netlink.Message
	for _, m := range msgs {
		for i, cmd := range []uint16{unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_NEWRULE} {
			if m.Header.Type == netlink.HeaderType(nftType(cmd)) {
				objs[i] = append(objs[i], m)
			}
		}
	}
	return format(rules.IPv4, objs[0], objs[1], objs[2])
}

// FuzzDumpListing checks that no datagram makes Dump's reading of the
// kernel's answers (the messages, their attributes, the listing) panic,
// and that whatever it lists round-trips: each message's attributes,
// encoded again, give the same listing. It is seeded with the objects
// every golden document is written as.
func FuzzDumpListing(f *testing.F) {
	for _, g := range goldenDocs(f) {
		f.Add(batchBytes(f, parseDoc(f, g.doc, g.fam)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := parseMessages(data)
		if err != nil {
			return
		}
		want, err := listing(msgs)
		if err != nil {
			return
		}
		again := make([]netlink.Message, len(msgs))
		for i, m := range msgs {
			again[i] = m
			if len(m.Data) < 4 {
				continue
			}
			as, err := attributes(m.Data[4:])
			if err != nil {
				continue
			}
			again[i].Data = append(bytes.Clone(m.Data[:4]), encodeAttributes(t, as)...)
		}
		if got, err := listing(again); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("attributes encoded again list as (%v)\n%s\nwas\n%s", err, got, want)
		}
	})
}

// encodeAttributes encodes parsed attributes back, nested flag and all.
func encodeAttributes(t *testing.T, as []attribute) []byte {
	t.Helper()
	out := make([]netlink.Attribute, len(as))
	for i, a := range as {
		out[i] = netlink.Attribute{Type: a.typ, Data: a.data}
		if a.nested {
			out[i].Type |= netlink.Nested
		}
	}
	b, err := netlink.MarshalAttributes(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
