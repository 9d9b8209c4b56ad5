package rules

import (
	"fmt"
	"net/netip"
	"slices"
)

// RuleSet is what one address family of one pod needs: the chains to
// create and the rules, in the order osm-init installed them.
type RuleSet struct {
	Profile Profile
	Family  Family
	Chains  []string
	Rules   []Rule
}

// Table is the table every mesh rule lives in.
const Table = "nat"

// Builtin chains of the nat table that hold the jumps into our chains.
const (
	ChainPrerouting = "PREROUTING"
	ChainOutput     = "OUTPUT"
)

// chainNames are a profile's four chains.
type chainNames struct {
	inbound, inRedirect, outbound, outRedirect string
}

// profileChains are a profile's chain names: a switch rather than a map
// literal, which the package's init would build on every plugin start.
func profileChains(p Profile) chainNames {
	switch p {
	case ProfileOSMv0:
		return chainNames{"PROXY_INBOUND", "PROXY_IN_REDIRECT", "PROXY_OUTPUT", "PROXY_REDIRECT"}
	case ProfileOSMv10, ProfileOSMv1:
		return chainNames{"OSM_PROXY_INBOUND", "OSM_PROXY_IN_REDIRECT", "OSM_PROXY_OUTBOUND", "OSM_PROXY_OUT_REDIRECT"}
	}
	return chainNames{}
}

// OwnedChains lists every chain any profile creates: what mesh-cni may
// replace or remove when a netns holds an older or different set.
func OwnedChains() []string {
	var out []string
	for _, p := range Profiles {
		c := profileChains(p)
		for _, name := range []string{c.inbound, c.inRedirect, c.outbound, c.outRedirect} {
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// Build turns a configuration into the rule set of one address family.
// IP ranges of the other family are left to that family's rule set.
func Build(cfg Config, fam Family) (RuleSet, error) {
	if err := cfg.Validate(); err != nil {
		return RuleSet{}, err
	}
	b := &builder{cfg: cfg, fam: fam, rs: RuleSet{Profile: cfg.Profile, Family: fam, Rules: make([]Rule, 0, ruleCount(cfg))}}
	switch cfg.Profile {
	case ProfileOSMv0:
		b.buildV0()
	case ProfileOSMv10:
		b.buildV10()
	case ProfileOSMv1:
		if err := b.buildV1(); err != nil {
			return RuleSet{}, err
		}
	default:
		return RuleSet{}, fmt.Errorf("unknown profile %q", cfg.Profile)
	}
	return b.rs, nil
}

// ruleCount is about how many rules cfg makes, at least: room for them
// from the start spares the plugin the copies of a growing list.
func ruleCount(cfg Config) int {
	n := 16 + len(cfg.ExcludedInboundPorts) + len(cfg.OutboundIPRangeExclusions) + len(cfg.OutboundIPRangeInclusions)
	n += len(cfg.NetworkInterfaceExclusions) * 2
	return n + (len(cfg.OutboundPortExclusions)+len(cfg.InboundPortExclusions))/multiportMax + 2
}

// builder accumulates one rule set; the per-profile files say what goes in.
type builder struct {
	cfg Config
	fam Family
	rs  RuleSet
}

func (b *builder) chains(c chainNames) {
	b.rs.Chains = []string{c.inbound, c.inRedirect, c.outbound, c.outRedirect}
}

// add adds r at op in chain.
func (b *builder) add(op Op, chain string, r Rule) {
	r.Op, r.Chain = op, chain
	b.rs.Rules = append(b.rs.Rules, r)
}

// loopback is the family's 127.0.0.1/32.
func (b *builder) loopback() Dst {
	if b.fam == IPv6 {
		return Dst{Text: "::1/128", Net: netip.PrefixFrom(netip.IPv6Loopback(), 128)}
	}
	return Dst{Text: "127.0.0.1/32", Net: netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 32)}
}

// cidrs are the ranges of this builder's family, as destinations.
func (b *builder) cidrs(in []string) []Dst {
	var out []Dst
	for _, s := range in {
		if p, err := parseCIDR(s); err == nil && FamilyOf(p.Addr()) == b.fam {
			out = append(out, Dst{Text: s, Net: p})
		}
	}
	return out
}

// multiportMax is the most ports one multiport match takes.
const multiportMax = 15

// portRules adds one "-p tcp --match multiport --dports" rule per chunk of
// at most 15 ports: OSM wrote one rule for any length, which iptables
// refuses past 15.
func (b *builder) portRules(op Op, chain string, ports []uint16, target Target) {
	for len(ports) > 0 {
		n := min(len(ports), multiportMax)
		b.add(op, chain, Rule{Proto: ProtoTCP, Matches: []Match{{Kind: MatchMultiport, Ports: ports[:n:n]}}, Target: target})
		ports = ports[n:]
	}
}

// The targets and matches the profiles' rules are made of.
var (
	ret    = Target{Kind: TargetReturn}
	accept = Target{Kind: TargetAccept}
)

func jump(chain string) Target { return Target{Kind: TargetJump, Chain: chain} }

func redirect(port uint16) Target { return Target{Kind: TargetRedirect, Port: port} }

func dport(port uint16) []Match { return []Match{{Kind: MatchDPort, Port: port}} }

func owner(uid uint32, not bool) []Match { return []Match{{Kind: MatchOwner, UID: uid, Not: not}} }

// FamiliesOf returns the address families of ips, IPv4 first. With no
// address at all it returns IPv4, the only family OSM ever configured.
func FamiliesOf(ips []netip.Addr) []Family {
	var fams []Family
	for _, a := range ips {
		if f := FamilyOf(a); !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
	}
	if len(fams) == 0 {
		return []Family{IPv4}
	}
	slices.Sort(fams)
	return fams
}

// BuildSets builds one rule set per family the pod has (cfg.PodIPs): what
// a pod's ADD and CHECK install and verify.
func BuildSets(cfg Config) ([]RuleSet, error) {
	var sets []RuleSet
	for _, fam := range FamiliesOf(cfg.PodIPs) {
		rs, err := Build(cfg, fam)
		if err != nil {
			return nil, fmt.Errorf("building %s rules: %w", fam, err)
		}
		sets = append(sets, rs)
	}
	return sets, nil
}
