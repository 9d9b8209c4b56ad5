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
	for _, r := range rec.rules {
		if r.Chain == rec.names.inbound && shape(r.Args, "-p", "tcp", "--dport", "15904", "-j", "RETURN") {
			return ProfileOSMv1
		}
	}
	return ProfileOSMv10
}

// shape says whether args are pattern, "*" standing for any one value.
func shape(args []string, pattern ...string) bool {
	if len(args) != len(pattern) {
		return false
	}
	for i, p := range pattern {
		if p != "*" && p != args[i] {
			return false
		}
	}
	return true
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
		a := r.Args
		switch {
		case r.Chain == n.outbound && shape(a, "-d", "*", "-j", "RETURN"):
			if a[1] == "127.0.0.1/32" && !loopback {
				loopback = true
				continue
			}
			cfg.OutboundIPRangeExclusions = append(cfg.OutboundIPRangeExclusions, a[1])
		case r.Chain == n.outbound && shape(a, "-d", "*", "-j", n.outRedirect):
			cfg.OutboundIPRangeInclusions = append(cfg.OutboundIPRangeInclusions, a[1])
		case shape(a, "-p", "tcp", "--match", "multiport", "--dports", "*", "-j", "RETURN"):
			ports, _ := parseDports(a[5])
			switch r.Chain {
			case n.outbound:
				cfg.OutboundPortExclusions = append(cfg.OutboundPortExclusions, ports...)
			case n.inbound:
				cfg.InboundPortExclusions = append(cfg.InboundPortExclusions, ports...)
			}
		case r.Chain == n.outbound && shape(a, "-o", "*", "-j", "RETURN"):
			cfg.NetworkInterfaceExclusions = append(cfg.NetworkInterfaceExclusions, a[1])
		case r.Chain == ChainOutput && slices.Contains(a, "DNAT"):
			if a[len(a)-1] == PodIPPlaceholder {
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
	const dports = 5 // the list's index in "-p tcp --match multiport --dports L -j T"
	full := false
	for _, r := range rs.Rules {
		multi := len(r.Args) == 8 && r.Args[dports-1] == "--dports"
		if n := len(out.Rules); full && multi && sameButPorts(out.Rules[n-1], r, dports) {
			prev := &out.Rules[n-1]
			prev.Args = slices.Clone(prev.Args)
			prev.Args[dports] += "," + r.Args[dports]
		} else {
			out.Rules = append(out.Rules, r)
		}
		full = multi && strings.Count(r.Args[dports], ",") == multiportMax-1
	}
	return out
}

func sameButPorts(a, b Rule, at int) bool {
	return a.Op == b.Op && a.Chain == b.Chain && slices.Equal(a.Args[:at], b.Args[:at]) && slices.Equal(a.Args[at+1:], b.Args[at+1:])
}
