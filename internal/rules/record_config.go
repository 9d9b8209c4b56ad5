package rules

import (
	"fmt"
	"slices"
	"strings"
)

// generationName is how a profile's scripts are named in errors.
func generationName(p Profile) string {
	switch p {
	case ProfileOSMv0:
		return "OSM v0.8-v0.11"
	case ProfileOSMv10:
		return "OSM v1.0"
	}
	return "OSM v1.1+ and osm-edge"
}

// profile tells the generation apart: v1.0 and v1.1+ share the chains and
// the form, but only v1.1 added the osm-healthcheck port's exclusion.
func (rec *recording) profile() Profile {
	if !rec.restore {
		return ProfileOSMv0
	}
	healthcheck := Rule{Op: Append, Chain: rec.names.inbound, Proto: ProtoTCP, Matches: dport(15904), Target: ret}
	for _, r := range rec.rules {
		if r.String() == healthcheck.String() {
			return ProfileOSMv1
		}
	}
	return ProfileOSMv10
}

// config derives the Config from the rules that carry a setting; the
// static rules are left to the render-back comparison, which also catches
// a setting in the wrong place.
func (rec *recording) config() (Config, error) {
	p := rec.profile()
	cfg := DefaultConfig(p)
	n := rec.names
	// The outbound chain's static "-d 127.0.0.1/32 -j RETURN" comes before
	// any exclusion of the same range, in every generation.
	loopback := false
	for _, r := range rec.rules {
		only := onlyOf(r)
		switch {
		case r.Chain == n.outbound && only == "d" && r.Target.Kind == TargetReturn:
			if r.Dst.Text == "127.0.0.1/32" && !loopback {
				loopback = true
				continue
			}
			cfg.OutboundIPRangeExclusions = append(cfg.OutboundIPRangeExclusions, r.Dst.Text)
		case r.Chain == n.outbound && only == "d" && r.Target == jump(n.outRedirect):
			cfg.OutboundIPRangeInclusions = append(cfg.OutboundIPRangeInclusions, r.Dst.Text)
		case only == "p multiport" && r.Target.Kind == TargetReturn:
			switch r.Chain {
			case n.outbound:
				cfg.OutboundPortExclusions = append(cfg.OutboundPortExclusions, r.Matches[0].Ports...)
			case n.inbound:
				cfg.InboundPortExclusions = append(cfg.InboundPortExclusions, r.Matches[0].Ports...)
			}
		case r.Chain == n.outbound && only == "o" && r.Target.Kind == TargetReturn:
			cfg.NetworkInterfaceExclusions = append(cfg.NetworkInterfaceExclusions, r.Out)
		case r.Chain == ChainOutput && r.Target.Kind == TargetDNAT:
			if !r.Target.Addr.IsValid() {
				cfg.LocalProxyMode = LocalProxyPodIP
			} else {
				cfg.LocalDNSProxy = true
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, recordErr("", "the rules are %s's (profile %s), which never had this: %v", generationName(p), p, err)
	}
	return cfg, nil
}

// onlyOf names what a rule matches, for the shapes that carry a setting:
// "d" for a destination alone (not negated), "o" for an outgoing
// interface alone, "p multiport" for a protocol and one multiport match;
// "" for any other.
func onlyOf(r Rule) string {
	switch {
	case r.Proto == 0 && r.In == "" && r.Out == "" && r.Dst.IsSet() && !r.Dst.Not && len(r.Matches) == 0:
		return "d"
	case r.Proto == 0 && r.In == "" && r.Out != "" && !r.Dst.IsSet() && len(r.Matches) == 0:
		return "o"
	case r.Proto != 0 && r.In == "" && r.Out == "" && !r.Dst.IsSet() && len(r.Matches) == 1 && r.Matches[0].Kind == MatchMultiport:
		return "p multiport"
	}
	return ""
}

// renderedBack requires body to be the IPv4 rendering of cfg, or that
// rendering with its split port lists joined back (see ParseOSMInit).
func (rec *recording) renderedBack(cfg Config, body string) error {
	rs, err := Build(cfg, IPv4)
	if err != nil {
		return recordErr("", "%v", err)
	}
	direct := RenderOSMInit(rs)
	joined := RenderOSMInit(joinSplitPorts(rs))
	if body == direct || body == joined {
		return nil
	}
	sep := commandSep
	if rec.restore {
		sep = "\n"
	}
	got, want := strings.Split(body, sep), strings.Split(direct, sep)
	i := firstDiff(got, want)
	if w := strings.Split(joined, sep); firstDiff(got, w) > i {
		i, want = firstDiff(got, w), w
	}
	where := fmt.Sprintf("iptables command %d", i+1)
	if rec.restore {
		where = fmt.Sprintf("line %d", i+1)
	}
	gen := generationName(cfg.Profile)
	switch {
	case i == len(got):
		return recordErr("", "truncated: osm-init of %s wrote %q next", gen, want[i])
	case i == len(want):
		return recordErr(where, "%q: osm-init of %s wrote nothing more", got[i], gen)
	}
	return recordErr(where, "%q where osm-init of %s wrote %q", got[i], gen, want[i])
}

// firstDiff is the index of the first unit where got and want differ.
func firstDiff(got, want []string) int {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return i
}

// joinSplitPorts joins back what Build's portRules split: a multiport rule
// of exactly multiportMax ports followed by one that differs only in its
// ports.
func joinSplitPorts(rs RuleSet) RuleSet {
	out := rs
	out.Rules = nil
	full := false
	for _, r := range rs.Rules {
		ports := multiportList(r)
		if n := len(out.Rules); full && ports != nil && sameButPorts(out.Rules[n-1], r) {
			prev := &out.Rules[n-1]
			prev.Matches = []Match{{Kind: MatchMultiport, Ports: append(slices.Clone(prev.Matches[0].Ports), ports...)}}
		} else {
			out.Rules = append(out.Rules, r)
		}
		full = len(ports) == multiportMax
	}
	return out
}

// multiportList is the ports of a rule whose one match is multiport.
func multiportList(r Rule) []uint16 {
	if len(r.Matches) != 1 || r.Matches[0].Kind != MatchMultiport {
		return nil
	}
	return r.Matches[0].Ports
}

func sameButPorts(a, b Rule) bool {
	if multiportList(a) == nil || multiportList(b) == nil {
		return false
	}
	a.Matches, b.Matches = nil, nil
	return a.String() == b.String()
}
