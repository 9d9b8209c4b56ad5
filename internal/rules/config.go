// Package rules is mesh-cni's model of OSM's traffic-redirection rules: a
// typed configuration goes in, the rules come out as data, renderers turn
// them into an iptables-restore document or the osm-init command line, and
// parsers read what iptables-save prints and what osm-init would have run.
// It makes no system call: installing and verifying rule sets in a pod's
// network namespace is package apply's (kernel side), and writing them over
// netlink package nftables'. It knows nothing of CNI or Kubernetes.
package rules

import (
	"fmt"
	"net/netip"
)

// Profile names the generation of OSM whose chains mesh-cni reproduces.
type Profile string

const (
	// ProfileOSMv0 is the rule set of OSM v0.8-v0.11 and of the
	// troubleshooting guide: PROXY_* chains, exclusions inserted at the top.
	ProfileOSMv0 Profile = "osm-v0"
	// ProfileOSMv10 is the rule set of OSM v1.0.x: OSM_PROXY_* chains and
	// the loopback rules, but no 15904 exclusion, and the exclusions
	// inserted at the top of the outbound chain after its final jump; no
	// inclusions, interface exclusions or PodIP mode yet.
	ProfileOSMv10 Profile = "osm-v1.0"
	// ProfileOSMv1 is the rule set of OSM v1.1.0-v1.2.4 and osm-edge
	// v1.1-v1.3: OSM_PROXY_* chains, loopback rules, the 15904 exclusion,
	// inclusions, interface exclusions, PodIP mode and osm-edge's local
	// DNS proxy rule.
	ProfileOSMv1 Profile = "osm-v1"
)

// Profiles lists every profile mesh-cni knows, the default first.
var Profiles = []Profile{ProfileOSMv0, ProfileOSMv10, ProfileOSMv1}

// ParseProfile accepts a profile name; the empty string means the default.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "":
		return ProfileOSMv0, nil
	case ProfileOSMv0, ProfileOSMv10, ProfileOSMv1:
		return Profile(s), nil
	}
	return "", fmt.Errorf("unknown profile %q (want %s, %s or %s)", s, ProfileOSMv0, ProfileOSMv10, ProfileOSMv1)
}

// LocalProxyMode is MeshConfig's spec.sidecar.localProxyMode: where the
// proxy sends traffic it forwards to the local application.
type LocalProxyMode string

const (
	// LocalProxyLocalhost forwards to 127.0.0.1, OSM's default.
	LocalProxyLocalhost LocalProxyMode = "Localhost"
	// LocalProxyPodIP forwards to the pod's own IP, for applications that
	// do not listen on loopback; osm-v1 adds a DNAT rule for it.
	LocalProxyPodIP LocalProxyMode = "PodIP"
)

// ParseLocalProxyMode accepts MeshConfig's spellings; empty means Localhost.
func ParseLocalProxyMode(s string) (LocalProxyMode, error) {
	switch LocalProxyMode(s) {
	case "":
		return LocalProxyLocalhost, nil
	case LocalProxyLocalhost, LocalProxyPodIP:
		return LocalProxyMode(s), nil
	}
	return "", fmt.Errorf("invalid local proxy mode %q (want %s or %s)", s, LocalProxyLocalhost, LocalProxyPodIP)
}

// Family is an IP address family; each gets its own rule set and document.
type Family int

const (
	// IPv4 rules are applied with iptables.
	IPv4 Family = 4
	// IPv6 rules are applied with ip6tables.
	IPv6 Family = 6
)

// String names the family as people write it.
func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Iptables is the family's iptables command: iptables or ip6tables.
func (f Family) Iptables() string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// Families are the address families mesh-cni manages, in apply order.
var Families = []Family{IPv4, IPv6}

// FamilyOf returns the family an address belongs to.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// Well-known ports and the proxy identity, as OSM's injector defines them.
const (
	DefaultProxyUID     = 1500
	DefaultOutboundPort = 15001
	DefaultInboundPort  = 15003
	DefaultAdminPort    = 15000
)

// Config is everything that shapes one pod's rules. Lists hold validated
// values (see the Parse*List functions); IP ranges keep the text the user
// wrote so the osm-init rendering matches what OSM printed.
type Config struct {
	Profile      Profile
	ProxyUID     uint32
	OutboundPort uint16
	InboundPort  uint16
	AdminPort    uint16
	// ExcludedInboundPorts are never redirected inbound: the proxy's
	// Prometheus port and the rewritten probe ports.
	ExcludedInboundPorts []uint16

	OutboundIPRangeExclusions  []string
	OutboundIPRangeInclusions  []string
	OutboundPortExclusions     []uint16
	InboundPortExclusions      []uint16
	NetworkInterfaceExclusions []string

	LocalProxyMode LocalProxyMode
	// PodIPs are the pod's addresses; PodIP mode needs one per family.
	PodIPs []netip.Addr
	// LocalDNSProxy is osm-edge's spec.sidecar.localDNSProxy.enable: the
	// pod resolves through 127.0.0.153, which a DNAT rule sends to the
	// sidecar's DNS listener on 5300.
	LocalDNSProxy bool
}

// DefaultConfig is OSM's configuration for a profile with no exclusions.
func DefaultConfig(p Profile) Config {
	excluded := []uint16{15010, 15901, 15902, 15903}
	if p == ProfileOSMv1 {
		// osm-healthcheck arrived with the v1 rule set.
		excluded = append(excluded, 15904)
	}
	return Config{
		Profile:              p,
		ProxyUID:             DefaultProxyUID,
		OutboundPort:         DefaultOutboundPort,
		InboundPort:          DefaultInboundPort,
		AdminPort:            DefaultAdminPort,
		ExcludedInboundPorts: excluded,
		LocalProxyMode:       LocalProxyLocalhost,
	}
}

// Validate reports the first value that cannot be turned into rules,
// naming the field and the value.
func (c Config) Validate() error {
	if _, err := ParseProfile(string(c.Profile)); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		port uint16
	}{{"outbound port", c.OutboundPort}, {"inbound port", c.InboundPort}, {"admin port", c.AdminPort}} {
		if p.port == 0 {
			return fmt.Errorf("invalid %s 0", p.name)
		}
	}
	for _, list := range []struct {
		name  string
		cidrs []string
	}{{"outbound IP range exclusion", c.OutboundIPRangeExclusions}, {"outbound IP range inclusion", c.OutboundIPRangeInclusions}} {
		for _, s := range list.cidrs {
			if _, err := parseCIDR(s); err != nil {
				return fmt.Errorf("%s: %w", list.name, err)
			}
		}
	}
	for _, ports := range [][]uint16{c.ExcludedInboundPorts, c.OutboundPortExclusions, c.InboundPortExclusions} {
		for _, p := range ports {
			if p == 0 {
				return fmt.Errorf("invalid port \"0\"")
			}
		}
	}
	for _, name := range c.NetworkInterfaceExclusions {
		if err := validateInterface(name); err != nil {
			return err
		}
	}
	if _, err := ParseLocalProxyMode(string(c.LocalProxyMode)); err != nil {
		return err
	}
	if c.Profile != ProfileOSMv1 {
		return c.checkBeforeV1()
	}
	return nil
}

// checkBeforeV1 refuses what the generations before v1.1 cannot express:
// silently dropping an inclusion or an interface exclusion would redirect
// traffic the operator asked to leave alone, and a pod told to resolve
// through 127.0.0.153 without the DNS rule would resolve nothing.
func (c Config) checkBeforeV1() error {
	switch {
	case len(c.OutboundIPRangeInclusions) > 0:
		return fmt.Errorf("profile %s has no outbound IP range inclusions (got %v); use profile %s", c.Profile, c.OutboundIPRangeInclusions, ProfileOSMv1)
	case len(c.NetworkInterfaceExclusions) > 0:
		return fmt.Errorf("profile %s has no network interface exclusions (got %v); use profile %s", c.Profile, c.NetworkInterfaceExclusions, ProfileOSMv1)
	case c.LocalProxyMode == LocalProxyPodIP:
		return fmt.Errorf("profile %s has no local proxy mode %s; use profile %s", c.Profile, LocalProxyPodIP, ProfileOSMv1)
	case c.LocalDNSProxy:
		return fmt.Errorf("profile %s has no local DNS proxy rule (osm-edge's); use profile %s", c.Profile, ProfileOSMv1)
	}
	return nil
}
