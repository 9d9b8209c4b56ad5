package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// A chained plugin that adds no interface, address or route "must output a
// result equivalent to the provided prevResult" (SPEC.md section 5, "ADD
// Success"). mesh-cni decodes prevResult in the shape of its version and
// prints it again exactly as libcni's types printed it before (same keys,
// order and indentation), so that nothing a runtime or a later plugin sees
// changes. It converts between versions never: libcni hands prevResult over
// in the list's version, which is the config's.

// result is the previous plugin's result, decoded as its version has it.
type result struct {
	v04 *result04 // 0.3.1 and 0.4.0
	v1  *result1  // 1.0.0 and 1.1.0
}

// result04 is a 0.3.x/0.4.0 result; its keys print in this order and dns
// always, as libcni's types040 printed them.
type result04 struct {
	CNIVersion string         `json:"cniVersion,omitempty"`
	Interfaces []*iface04     `json:"interfaces,omitempty"`
	IPs        []*ip04        `json:"ips,omitempty"`
	Routes     []*resultRoute `json:"routes,omitempty"`
	DNS        resultDNS      `json:"dns"`
}

type iface04 struct {
	Name    string `json:"name"`
	Mac     string `json:"mac,omitempty"`
	Sandbox string `json:"sandbox,omitempty"`
}

// ip04 has the IP version field that 1.0.0 removed.
type ip04 struct {
	Version   string `json:"version"`
	Interface *int   `json:"interface,omitempty"`
	Address   ipNet  `json:"address"`
	Gateway   net.IP `json:"gateway,omitempty"`
}

// result1 is a 1.0.0/1.1.0 result (the two have the same types).
type result1 struct {
	CNIVersion string         `json:"cniVersion,omitempty"`
	Interfaces []*iface1      `json:"interfaces,omitempty"`
	IPs        []*ip1         `json:"ips,omitempty"`
	Routes     []*resultRoute `json:"routes,omitempty"`
	DNS        resultDNS      `json:"dns"`
}

type iface1 struct {
	Name       string `json:"name"`
	Mac        string `json:"mac,omitempty"`
	Mtu        int    `json:"mtu,omitempty"`
	Sandbox    string `json:"sandbox,omitempty"`
	SocketPath string `json:"socketPath,omitempty"`
	PciID      string `json:"pciID,omitempty"`
}

type ip1 struct {
	Interface *int   `json:"interface,omitempty"`
	Address   ipNet  `json:"address"`
	Gateway   net.IP `json:"gateway,omitempty"`
}

// resultRoute is a route, the same in every version.
type resultRoute struct {
	Dst      ipNet  `json:"dst"`
	GW       net.IP `json:"gw,omitempty"`
	MTU      int    `json:"mtu,omitempty"`
	AdvMSS   int    `json:"advmss,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Table    *int   `json:"table,omitempty"`
	Scope    *int   `json:"scope,omitempty"`
}

// resultDNS is the "dns" object of a result, and of a network config.
type resultDNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// ipNet is an address in CIDR notation that keeps its host bits
// ("10.1.2.3/24"), as results carry them.
type ipNet net.IPNet

func (n *ipNet) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	ip, ipn, err := net.ParseCIDR(s)
	if err != nil {
		return err
	}
	*n = ipNet{IP: ip, Mask: ipn.Mask}
	return nil
}

func (n ipNet) MarshalJSON() ([]byte, error) {
	return json.Marshal((*net.IPNet)(&n).String())
}

// parseResult decodes prevResult for a config of version confVersion. Its
// own cniVersion must be that version: there is nothing to convert, and
// guessing one for a result without it would print a different document.
func parseResult(raw []byte, confVersion string) (*result, error) {
	r := &result{}
	var got string
	var err error
	switch confVersion {
	case "0.3.1", "0.4.0":
		r.v04 = &result04{}
		err = json.Unmarshal(raw, r.v04)
		got = r.v04.CNIVersion
	case "1.0.0", "1.1.0":
		r.v1 = &result1{}
		err = json.Unmarshal(raw, r.v1)
		got = r.v1.CNIVersion
	default:
		return nil, fmt.Errorf("mesh-cni does not speak CNI version %q", confVersion)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("could not parse prevResult: %w", err)
	case got == "":
		return nil, fmt.Errorf("prevResult has no cniVersion, the config has %s: mesh-cni passes prevResult through as it is and needs it in the config's version", confVersion)
	case got != confVersion:
		return nil, fmt.Errorf("prevResult has cniVersion %s, the config has %s: mesh-cni passes prevResult through as it is and needs it in the config's version", got, confVersion)
	}
	return r, nil
}

// addresses are the result's "ips"[].address, in every version.
func (r *result) addresses() []ipNet {
	var out []ipNet
	if r.v04 != nil {
		for _, ip := range r.v04.IPs {
			if ip != nil {
				out = append(out, ip.Address)
			}
		}
	}
	if r.v1 != nil {
		for _, ip := range r.v1.IPs {
			if ip != nil {
				out = append(out, ip.Address)
			}
		}
	}
	return out
}

// marshal prints r as libcni did: indented by four spaces, no final
// newline. types100 went through a map, so a 1.x result's keys are sorted
// at every level and an empty "dns" is left out.
func (r *result) marshal() ([]byte, error) {
	if r.v04 != nil {
		return json.MarshalIndent(r.v04, "", "    ")
	}
	flat, err := json.Marshal(r.v1)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(flat, &m); err != nil {
		return nil, err
	}
	if dns, _ := m["dns"].(map[string]any); len(dns) == 0 {
		delete(m, "dns")
	}
	return json.MarshalIndent(m, "", "    ")
}

// podIPs returns the addresses the previous plugins gave the pod.
func podIPs(prev *result) ([]netip.Addr, error) {
	if prev == nil {
		return nil, errors.New("no prevResult")
	}
	var ips []netip.Addr
	for _, n := range prev.addresses() {
		if a, ok := netip.AddrFromSlice(n.IP); ok {
			ips = append(ips, a.Unmap())
		}
	}
	return ips, nil
}

// families returns the address families of ips, IPv4 first. With no
// address at all it returns IPv4, the only family OSM ever configured.
func families(ips []netip.Addr) []rules.Family {
	var fams []rules.Family
	for _, a := range ips {
		if f := rules.FamilyOf(a); !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
	}
	if len(fams) == 0 {
		return []rules.Family{rules.IPv4}
	}
	slices.Sort(fams)
	return fams
}

// buildRuleSets builds one rule set per family the pod has.
func buildRuleSets(cfg rules.Config) ([]rules.RuleSet, error) {
	var sets []rules.RuleSet
	for _, fam := range families(cfg.PodIPs) {
		rs, err := rules.Build(cfg, fam)
		if err != nil {
			return nil, fmt.Errorf("building %s rules: %w", fam, err)
		}
		sets = append(sets, rs)
	}
	return sets, nil
}

// passThrough prints prevResult unchanged: a chained plugin that adds no
// interface or address must not alter it.
func passThrough(conf *NetConf) error {
	if conf.prev == nil {
		return errors.New("no prevResult to pass through")
	}
	data, err := conf.prev.marshal()
	if err != nil {
		return fmt.Errorf("printing prevResult: %w", err)
	}
	_, err = resultOutput.Write(data)
	return err
}

// resultOutput is where results go: stdout, where the runtime reads them.
var resultOutput io.Writer = os.Stdout
