package cni

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	types040 "github.com/containernetworking/cni/pkg/types/040"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// podIPs returns the addresses the previous plugins gave the pod, read
// from prevResult in the version libcni parsed it in. Converting a 0.x
// result to the current type (current.NewResultFromResult) would
// dereference every interface and IP entry, and crash the plugin on a
// null one, which the pass-through prints back unchanged.
func podIPs(prev types.Result) ([]netip.Addr, error) {
	var addrs []net.IP
	switch r := prev.(type) {
	case nil:
		return nil, errors.New("no prevResult")
	case *current.Result:
		for _, ip := range r.IPs {
			if ip != nil {
				addrs = append(addrs, ip.Address.IP)
			}
		}
	case *types040.Result:
		for _, ip := range r.IPs {
			if ip != nil {
				addrs = append(addrs, ip.Address.IP)
			}
		}
	default:
		return nil, fmt.Errorf("prevResult of CNI version %s, which mesh-cni does not speak", prev.Version())
	}
	var ips []netip.Addr
	for _, ip := range addrs {
		if a, ok := netip.AddrFromSlice(ip); ok {
			ips = append(ips, a.Unmap())
		}
	}
	return ips, nil
}

// passThrough prints prevResult in the config's version: a chained plugin
// that adds no interface, address or route "must output a result
// equivalent to the provided prevResult" (SPEC.md section 5, "ADD
// Success").
func passThrough(conf *NetConf) error {
	if conf.PrevResult == nil {
		return errors.New("no prevResult to pass through")
	}
	if err := types.PrintResult(conf.PrevResult, conf.CNIVersion); err != nil {
		return fmt.Errorf("printing prevResult: %w", err)
	}
	return nil
}
