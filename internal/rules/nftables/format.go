package nftables

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// format writes the canonical listing of table nat from the three dumps,
// or nothing when the family has no such table. Chains come in the
// kernel's order, each followed by its rules.
func format(f rules.Family, tables, chains, ruleMsgs []netlink.Message) ([]byte, error) {
	ts, err := ofTable(tables, unix.NFTA_TABLE_NAME)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	var out strings.Builder
	fmt.Fprintf(&out, "table %s family %d:", table, int(f))
	writeAttrs(&out, ts[0], nil, unix.NFTA_TABLE_NAME, unix.NFTA_TABLE_USE, nftaTableHandle)
	out.WriteString("\n")
	rs, err := ofTable(ruleMsgs, unix.NFTA_RULE_TABLE)
	if err != nil {
		return nil, err
	}
	byChain := map[string][]string{}
	for _, as := range rs {
		var r strings.Builder
		r.WriteString("  rule:")
		writeAttrs(&r, as, nil, unix.NFTA_RULE_TABLE, unix.NFTA_RULE_CHAIN, unix.NFTA_RULE_HANDLE,
			unix.NFTA_RULE_EXPRESSIONS, unix.NFTA_RULE_POSITION, unix.NFTA_RULE_ID, nftaRulePositionID, nftaRuleChainID)
		r.WriteString("\n")
		if err := writeExprs(&r, as); err != nil {
			return nil, err
		}
		name := str(as, unix.NFTA_RULE_CHAIN)
		byChain[name] = append(byChain[name], r.String())
	}
	cs, err := ofTable(chains, unix.NFTA_CHAIN_TABLE)
	if err != nil {
		return nil, err
	}
	for _, as := range cs {
		name := str(as, unix.NFTA_CHAIN_NAME)
		fmt.Fprintf(&out, "chain %s:", name)
		writeAttrs(&out, as, chainShape(), unix.NFTA_CHAIN_TABLE, unix.NFTA_CHAIN_NAME, unix.NFTA_CHAIN_HANDLE, unix.NFTA_CHAIN_USE, nftaChainID)
		out.WriteString("\n")
		out.WriteString(strings.Join(byChain[name], ""))
		delete(byChain, name)
	}
	for name := range byChain {
		return nil, fmt.Errorf("nftables: the kernel listed rules of chain %q but not the chain", name)
	}
	return []byte(out.String()), nil
}

// ofTable parses dumped objects and keeps those of table nat, whose name
// is in attribute tableAttr.
func ofTable(msgs []netlink.Message, tableAttr uint16) ([][]attribute, error) {
	var out [][]attribute
	for _, m := range msgs {
		if len(m.Data) < 4 {
			return nil, fmt.Errorf("nftables: short message from the kernel")
		}
		as, err := attributes(m.Data[4:]) // after nfgenmsg
		if err != nil {
			return nil, err
		}
		if str(as, tableAttr) == table {
			out = append(out, as)
		}
	}
	return out, nil
}

// writeExprs writes one line per expression: its name, then its data.
func writeExprs(out *strings.Builder, as []attribute) error {
	for _, a := range as {
		if a.typ != unix.NFTA_RULE_EXPRESSIONS {
			continue
		}
		elems, err := attributes(a.data)
		if err != nil {
			return err
		}
		for _, e := range elems {
			parts, err := attributes(e.data)
			if err != nil {
				return err
			}
			name := str(parts, unix.NFTA_EXPR_NAME)
			fmt.Fprintf(out, "    %s:", name)
			for _, p := range parts {
				switch inner, err := attributes(p.data); {
				case p.typ == unix.NFTA_EXPR_NAME: // on the line already
				case p.typ == unix.NFTA_EXPR_DATA && err == nil:
					writeAttrs(out, inner, exprShape(name))
				default:
					fmt.Fprintf(out, " %d=%s", p.typ, hex.EncodeToString(p.data))
				}
			}
			out.WriteString("\n")
		}
	}
	return nil
}

// writeAttrs writes " type=hex" per attribute, " type={...}" for nested
// ones, skipping the types in skip.
func writeAttrs(out *strings.Builder, as []attribute, s shape, skip ...uint16) {
next:
	for _, a := range as {
		for _, t := range skip {
			if a.typ == t {
				continue next
			}
		}
		sub, nested := s[a.typ]
		if nested || a.nested {
			if inner, err := attributes(a.data); err == nil {
				fmt.Fprintf(out, " %d={", a.typ)
				var b strings.Builder
				writeAttrs(&b, inner, sub)
				out.WriteString(strings.TrimPrefix(b.String(), " "))
				out.WriteString("}")
				continue
			}
		}
		fmt.Fprintf(out, " %d=%s", a.typ, hex.EncodeToString(a.data))
	}
}
