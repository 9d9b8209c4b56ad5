package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// The stand-in for osm-edge's local DNS proxy: where Pipy listens when the
// injector sets LOCAL_DNS_PROXY=true, and the one name it knows.
const (
	dnsProxyAddr = "127.0.0.153:5300"
	dnsTestName  = "mesh.test."
)

// dnsTestAddr is the answer for dnsTestName (TEST-NET-1: routed nowhere).
var dnsTestAddr = [4]byte{192, 0, 2, 53}

// DNS wire constants (RFC 1035).
const (
	dnsHeaderLen = 12
	typeA        = 1
	classIN      = 1
	rcodeNXName  = 3
	rcodeFormErr = 1
)

// serveDNS answers queries on udp dnsProxyAddr until it fails: an A query
// for dnsTestName gets dnsTestAddr, any other question for that name no
// records, and every other name NXDOMAIN, so a resolver walking its search
// list gets an answer for each try.
func serveDNS() error {
	conn, err := net.ListenPacket("udp", dnsProxyAddr)
	if err != nil {
		return fmt.Errorf("DNS stand-in: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("DNS stand-in: %w", err)
		}
		if reply := dnsReply(buf[:n]); reply != nil {
			_, _ = conn.WriteTo(reply, from)
		}
	}
}

// dnsReply builds the answer to one query, or nil for a packet that is no
// query at all (too short to have an ID).
func dnsReply(q []byte) []byte {
	if len(q) < dnsHeaderLen {
		return nil
	}
	// QR set, the query's opcode and RD kept, RA set.
	flags := 0x8000 | binary.BigEndian.Uint16(q[2:4])&0x7900 | 0x0080
	name, qtype, qclass, end, err := dnsQuestion(q)
	if err != nil {
		return dnsHeader(q, flags|rcodeFormErr, 0, 0)
	}
	known := strings.EqualFold(name, dnsTestName)
	if !known {
		flags |= rcodeNXName
	}
	if !known || qtype != typeA || qclass != classIN {
		return append(dnsHeader(q, flags, 1, 0), q[dnsHeaderLen:end]...)
	}
	out := append(dnsHeader(q, flags, 1, 1), q[dnsHeaderLen:end]...)
	// The question's name by pointer, type A, class IN, TTL 5s, the address.
	out = append(out, 0xc0, dnsHeaderLen)
	for _, v := range []uint16{typeA, classIN, 0, 5, 4} {
		out = binary.BigEndian.AppendUint16(out, v)
	}
	return append(out, dnsTestAddr[:]...)
}

// dnsHeader is a reply's header: the query's ID, these flags and counts.
func dnsHeader(q []byte, flags, qdcount, ancount uint16) []byte {
	out := append([]byte{}, q[:2]...)
	for _, v := range []uint16{flags, qdcount, ancount, 0, 0} {
		out = binary.BigEndian.AppendUint16(out, v)
	}
	return out
}

// dnsQuestion reads the first question of a query: its name (dotted, with
// the root's dot), type, class and where it ends.
func dnsQuestion(q []byte) (name string, qtype, qclass uint16, end int, err error) {
	if binary.BigEndian.Uint16(q[4:6]) < 1 {
		return "", 0, 0, 0, errors.New("no question")
	}
	var labels []string
	i := dnsHeaderLen
	for {
		if i >= len(q) {
			return "", 0, 0, 0, errors.New("name runs past the packet")
		}
		l := int(q[i])
		if l == 0 {
			i++
			break
		}
		if l > 63 || i+1+l > len(q) {
			return "", 0, 0, 0, errors.New("bad label")
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+4 > len(q) {
		return "", 0, 0, 0, errors.New("question cut short")
	}
	return strings.Join(labels, ".") + ".", binary.BigEndian.Uint16(q[i:]), binary.BigEndian.Uint16(q[i+2:]), i + 4, nil
}

// resolve looks a name up as the pod's resolver is configured
// (/etc/resolv.conf: nameservers, search list, ndots) and prints its IPv4
// addresses, one a line.
func resolve(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("resolve takes NAME")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &net.Resolver{PreferGo: true}
	ips, err := r.LookupIP(ctx, "ip4", args[0])
	if err != nil {
		return err
	}
	for _, ip := range ips {
		fmt.Println(ip)
	}
	return nil
}
