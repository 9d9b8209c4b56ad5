// Package validate is mesh-cni's check inside a meshed pod, run as its
// first init container before anything else of the pod: it proves that the
// pod's own TCP is redirected by the rules mesh-cni installs at sandbox
// creation, with no privilege at all. A pod whose sandbox was made while
// mesh-cni was not in the node's CNI chain has no rules; its validator
// exits with NotRedirectedExitCode, the pod never reaches its app, and
// mesh-cni's node agent repairs it.
//
// The probe never leaves the pod: it listens on the port the rules send
// the connection to, on 127.0.0.1, and dials ProbeAddr, another loopback
// address, which every route table keeps on lo. Without rules the dial
// finds no listener there and is refused; with them the kernel rewrites
// it to the listener, and SO_ORIGINAL_DST proves it was.
package validate

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// NotRedirectedExitCode is the validation container's exit code when its
// connection was not redirected: the node agent repairs pods whose
// validation container terminated with it, and only those.
const NotRedirectedExitCode = 42

// ContainerName is the validation init container's name.
const ContainerName = "mesh-cni-validation"

// ProbeAddr is the address the probe dials: loopback, but not 127.0.0.1,
// which every profile's rules leave alone.
var ProbeAddr = netip.MustParseAddr("127.0.0.2")

// OtherUID is the validator's uid in profile osm-v0, whose rules redirect
// every uid's outbound TCP but the proxy's: nobody, which no OSM component
// uses.
const OtherUID = 65534

// Probe is one profile's way of proving redirection: the uid the
// validation container runs as (the rules match the socket's owner), the
// listener the rules redirect to, and the address dialed.
type Probe struct {
	// UID is the validation container's runAsUser.
	UID uint32
	// Listen is where the rules send the probe's connection.
	Listen netip.AddrPort
	// Dial is where the probe connects: what SO_ORIGINAL_DST must say.
	Dial netip.AddrPort
}

// ProbeFor says how a pod with cfg's rules proves them, or why it cannot:
// an exclusion that returns the probe's connection before the redirect.
//
// osm-v0 redirects outbound TCP of every uid but the proxy's, but to
// 127.0.0.1, to the outbound port: the probe runs as OtherUID. osm-v1.0
// and osm-v1 RETURN loopback traffic of every uid but the proxy's, and send
// the proxy's loopback traffic to an address other than 127.0.0.1 to the
// inbound port (it is the proxy reaching the app by the pod's IP): the
// probe runs as the proxy's uid before the proxy does.
func ProbeFor(cfg rules.Config) (Probe, error) {
	var p Probe
	switch cfg.Profile {
	case rules.ProfileOSMv0:
		p = Probe{UID: OtherUID, Listen: loopbackPort(cfg.OutboundPort)}
	case rules.ProfileOSMv10, rules.ProfileOSMv1:
		p = Probe{UID: cfg.ProxyUID, Listen: loopbackPort(cfg.InboundPort)}
	default:
		return Probe{}, fmt.Errorf("profile %q: no probe known", cfg.Profile)
	}
	p.Dial = netip.AddrPortFrom(ProbeAddr, p.Listen.Port())
	if cfg.Profile == rules.ProfileOSMv1 {
		// Its exclusions come after the loopback rule the probe meets;
		// osm-v1.0 and osm-v0 insert theirs before.
		return p, nil
	}
	if cfg.Profile == rules.ProfileOSMv0 && p.UID == cfg.ProxyUID {
		return Probe{}, fmt.Errorf("profile %s: the proxy's uid %d is exempt from redirection", cfg.Profile, cfg.ProxyUID)
	}
	if slices.Contains(cfg.OutboundPortExclusions, p.Dial.Port()) {
		return Probe{}, fmt.Errorf("outbound port exclusion %d covers the probe's %s", p.Dial.Port(), p.Dial)
	}
	for _, s := range cfg.OutboundIPRangeExclusions {
		if covers(s, ProbeAddr) {
			return Probe{}, fmt.Errorf("outbound IP range exclusion %s covers the probe's %s", s, p.Dial)
		}
	}
	return p, nil
}

func loopbackPort(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

// covers says whether a range as the rules hold it (a CIDR, or an address
// alone) contains a.
func covers(s string, a netip.Addr) bool {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Contains(a)
	}
	b, err := netip.ParseAddr(s)
	return err == nil && b == a
}
