package rules

import (
	"net/netip"
	"slices"
	"strings"
)

// A rule can be written many ways and iptables-save prints it its own way:
// `-p tcp --dport 80` comes back as `-p tcp -m tcp --dport 80`, `--to-port`
// as `--to-ports`, `--match` as `-m`, `10.0.0.10/24` as `10.0.0.0/24`, and
// `-o lo ! -d X` as `! -d X -o lo`. Comparing what was asked with what is
// there needs one spelling for both: canonical() below.

// option is one option of a rule with its values: "! --uid-owner 1500".
type option struct {
	neg    bool
	name   string
	values []string
}

func (o option) String() string {
	s := o.name
	if o.neg {
		s = "! " + s
	}
	if len(o.values) > 0 {
		s += " " + strings.Join(o.values, " ")
	}
	return s
}

// match is one -m module with its options.
type match struct {
	name string
	opts []option
}

// ruleSpec is a rule's arguments parsed: the fixed options iptables keeps in
// the rule's header, the matches in the order they were loaded, the target.
type ruleSpec struct {
	base    map[string]option
	matches []match
	target  string
	tgtOpts []option
}

// baseOrder is the order iptables-save prints the header options in.
var baseOrder = []string{"-s", "-d", "-i", "-o", "-p", "-f"}

// The tables below are switches, not package-level maps: a map literal is
// built by the package's init, on every start of the short-lived plugin
// process, whether or not it compares a rule (5 of its ~320 page faults,
// measured over 1000 starts).

// alias gives the spelling iptables-save prints for a long or old one, and
// the argument itself otherwise.
func alias(a string) string {
	switch a {
	case "--source", "--src":
		return "-s"
	case "--destination", "--dst":
		return "-d"
	case "--in-interface":
		return "-i"
	case "--out-interface":
		return "-o"
	case "--protocol":
		return "-p"
	case "--fragment":
		return "-f"
	case "--match":
		return "-m"
	case "--jump":
		return "-j"
	case "--goto":
		return "-g"
	case "--destination-port":
		return "--dport"
	case "--source-port":
		return "--sport"
	case "--destination-ports":
		return "--dports"
	case "--source-ports":
		return "--sports"
	case "--to-port":
		return "--to-ports"
	}
	return a
}

// isProtoOption says whether an option loads the protocol's match
// implicitly: `-p tcp --dport 80` is `-p tcp -m tcp --dport 80`.
func isProtoOption(name string) bool {
	switch name {
	case "--dport", "--sport", "--tcp-flags", "--syn", "--tcp-option":
		return true
	}
	return false
}

// protoName is the name iptables-save prints for a protocol number.
func protoName(v string) (string, bool) {
	switch v {
	case "6":
		return "tcp", true
	case "17":
		return "udp", true
	case "1":
		return "icmp", true
	case "58":
		return "ipv6-icmp", true
	}
	return "", false
}

// canonical spells a rule's arguments (without "-A CHAIN") the one way
// used for comparing: header options in iptables-save's order, matches in
// load order with their options sorted, the target last.
func canonical(args []string) string {
	return parseSpec(args).String()
}

func parseSpec(args []string) ruleSpec {
	s := ruleSpec{base: map[string]option{}}
	neg := false
	var cur *match // the match or target options are being added to
	inTarget := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "!" {
			neg = true
			continue
		}
		name := alias(a)
		var values []string
		for i+1 < len(args) && !isOption(args[i+1]) {
			i++
			values = append(values, args[i])
		}
		o := option{neg: neg, name: name, values: values}
		neg = false
		switch {
		case name == "-m":
			s.matches = append(s.matches, match{name: first(values)})
			cur, inTarget = &s.matches[len(s.matches)-1], false
		case name == "-j" || name == "-g":
			s.target, inTarget = strings.Join(append([]string{name}, values...), " "), true
		case inTarget:
			s.tgtOpts = append(s.tgtOpts, normalise(o))
		case slices.Contains(baseOrder, name):
			s.base[name] = normalise(o)
		default:
			if isProtoOption(name) && (cur == nil || !isProtoMatch(cur.name)) {
				cur = s.protoMatch()
			}
			if cur == nil {
				// An option with no match to belong to: keep it visible.
				s.matches = append(s.matches, match{})
				cur = &s.matches[len(s.matches)-1]
			}
			cur.opts = append(cur.opts, normalise(o))
		}
	}
	return s
}

// protoMatch finds or loads the match named after the rule's protocol.
func (s *ruleSpec) protoMatch() *match {
	proto := first(s.base["-p"].values)
	for i := range s.matches {
		if s.matches[i].name == proto {
			return &s.matches[i]
		}
	}
	s.matches = append(s.matches, match{name: proto})
	return &s.matches[len(s.matches)-1]
}

func isProtoMatch(name string) bool { return name == "tcp" || name == "udp" }

// isOption tells an option from a value; no value mesh-cni writes starts
// with a dash.
func isOption(a string) bool { return a == "!" || strings.HasPrefix(a, "-") }

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// normalise spells one option's values as iptables-save prints them.
func normalise(o option) option {
	if len(o.values) != 1 {
		return o
	}
	v := o.values[0]
	switch o.name {
	case "-s", "-d":
		v = normaliseNets(v)
	case "-p":
		v = strings.ToLower(v)
		if n, ok := protoName(v); ok {
			v = n
		}
	case "--uid-owner", "--gid-owner":
		// A range of one is printed as the single id.
		if lo, hi, ok := strings.Cut(v, "-"); ok && lo == hi {
			v = lo
		}
	}
	o.values = []string{v}
	return o
}

// normaliseNets masks host bits and adds the host prefix length, for each
// of a comma-separated list; iptables stores a network, not what was typed.
func normaliseNets(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			parts[i] = pfx.Masked().String()
		} else if a, err := netip.ParseAddr(p); err == nil {
			parts[i] = netip.PrefixFrom(a, a.BitLen()).String()
		}
	}
	return strings.Join(parts, ",")
}

// String is the canonical spelling.
func (s ruleSpec) String() string {
	var parts []string
	for _, name := range baseOrder {
		if o, ok := s.base[name]; ok {
			parts = append(parts, o.String())
		}
	}
	for _, m := range s.matches {
		if m.name != "" {
			parts = append(parts, "-m "+m.name)
		}
		parts = append(parts, sortedOpts(m.opts)...)
	}
	if s.target != "" {
		parts = append(parts, s.target)
		parts = append(parts, sortedOpts(s.tgtOpts)...)
	}
	return strings.Join(parts, " ")
}

// sortedOpts orders a module's options by name: a module prints its
// options in its own fixed order whatever order they were written in.
func sortedOpts(opts []option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.String()
	}
	slices.SortStableFunc(out, func(a, b string) int {
		return strings.Compare(strings.TrimPrefix(a, "! "), strings.TrimPrefix(b, "! "))
	})
	return out
}

// jumpTarget is the chain a rule jumps or goes to, "" for other targets.
func (s ruleSpec) jumpTarget() string {
	if t, ok := strings.CutPrefix(s.target, "-j "); ok {
		return t
	}
	if t, ok := strings.CutPrefix(s.target, "-g "); ok {
		return t
	}
	return ""
}

// SplitArgs splits a rule line of iptables-save (or iptables -S) into its
// arguments, honouring the double quotes iptables puts around values with
// spaces (comments) and the backslash escapes inside them.
func SplitArgs(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case (c == ' ' || c == '\t') && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}
