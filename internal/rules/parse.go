package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// parseArgs reads a rule's arguments (what follows -A CHAIN) into a Rule,
// Op and Chain left empty. It is the one parser of iptables rule
// arguments: what iptables-save prints (the tables Apply and Verify read
// back), what osm-init ran (ParseOSMInit) and the documents the tests
// feed to iptables itself. Its grammar is iptables' own for the options
// mesh-cni's rules use, in iptables-save's spelling or a person's: long
// option names, `-p tcp --dport 80` loading the tcp match as `-m tcp`
// does, a bare address for a /32, --to-port for --to-ports, a protocol
// number. A name after -j is a target of ours or a chain when isChain
// says so. Anything else is refused, naming the token: such a rule is not
// one mesh-cni's model can hold. The errors are worded for the one place
// a person reads them, a refused osm-init command (ParseOSMInit).
func parseArgs(args []string, isChain func(string) bool) (Rule, error) {
	if !slices.Contains(args, "-j") && !slices.Contains(args, "--jump") {
		return Rule{}, errors.New("no target (-j): every rule of osm-init had one")
	}
	p := argParser{isChain: isChain}
	for i := 0; i < len(args); {
		n, err := p.option(args[i:])
		if err != nil {
			return Rule{}, err
		}
		i += n
	}
	return p.r, p.complete()
}

// argParser is parseArgs' state: the rule so far.
type argParser struct {
	r       Rule
	isChain func(string) bool
	// uidGiven is set by --uid-owner: uid 0 is a uid.
	uidGiven bool
	// targetOpt and targetVal are the target's option and its value as
	// given, once they are.
	targetOpt, targetVal string
}

// option reads the option at the head of args, with its "!" and value,
// and says how many arguments it took.
func (p *argParser) option(args []string) (int, error) {
	neg := args[0] == "!"
	tok := args[0]
	if neg {
		if len(args) == 1 {
			return 0, errors.New(`a "!" with nothing after it`)
		}
		tok = args[1]
	}
	name := longName(tok)
	if neg && name != "-d" && name != "--uid-owner" {
		return 0, fmt.Errorf("\"!\" before %q: osm-init negated only -d and --uid-owner", tok)
	}
	if p.r.Target.Kind != 0 && !p.isTargetOption(name) {
		return 0, p.afterTarget(args)
	}
	at := 1
	if neg {
		at = 2
	}
	if len(args) == at {
		if name == "-j" {
			return 0, errors.New("-j without a target")
		}
		return 0, fmt.Errorf("%s without a value", tok)
	}
	return at + 1, p.value(name, tok, args[at], neg)
}

// longName gives the short spelling of a long or old option name, and
// the name itself otherwise: a switch, not a map, which the short-lived
// plugin would build at every start.
func longName(a string) string {
	switch a {
	case "--protocol":
		return "-p"
	case "--destination", "--dst":
		return "-d"
	case "--in-interface":
		return "-i"
	case "--out-interface":
		return "-o"
	case "--match":
		return "-m"
	case "--jump":
		return "-j"
	case "--destination-port":
		return "--dport"
	case "--destination-ports":
		return "--dports"
	case "--to-port":
		return "--to-ports"
	}
	return a
}

// value applies option name (tok as given) with its value v.
func (p *argParser) value(name, tok, v string, neg bool) error {
	switch name {
	case "-p":
		return p.proto(v)
	case "-d":
		return p.dst(v, neg)
	case "-i":
		return setIface(&p.r.In, tok, v)
	case "-o":
		return setIface(&p.r.Out, tok, v)
	case "--dport":
		return p.dport(v)
	case "-m":
		return p.load(v)
	case "--dports":
		return p.dports(v)
	case "--uid-owner":
		return p.uid(v, neg)
	case "-j":
		return p.target(v)
	case "--to-ports", "--to-destination":
		return p.targetValue(tok, v)
	}
	return fmt.Errorf("unknown match option %q", tok)
}

func (p *argParser) proto(v string) error {
	if p.r.Proto != 0 {
		return errors.New("-p given twice")
	}
	switch strings.ToLower(v) {
	case "tcp", "6":
		p.r.Proto = ProtoTCP
	case "udp", "17":
		p.r.Proto = ProtoUDP
	default:
		return fmt.Errorf("unknown protocol %q (osm-init matched tcp, and udp for DNS)", v)
	}
	return nil
}

// dst reads ADDR/LEN, host bits kept, or ADDR for its host prefix.
func (p *argParser) dst(v string, neg bool) error {
	if p.r.Dst.IsSet() {
		return errors.New("-d given twice")
	}
	pfx, err := netip.ParsePrefix(v)
	if !strings.Contains(v, "/") {
		var a netip.Addr
		if a, err = netip.ParseAddr(v); err == nil {
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || pfx.Addr().Zone() != "" {
		return fmt.Errorf("-d: invalid IP range %q", v)
	}
	p.r.Dst = Dst{Text: v, Net: pfx, Not: neg}
	return nil
}

func setIface(dst *string, tok, v string) error {
	if *dst != "" {
		return fmt.Errorf("%s given twice", tok)
	}
	if err := validateInterface(v); err != nil {
		return err
	}
	*dst = v
	return nil
}

// dport is --dport of the protocol's match, which it loads unless -m
// did (iptables: `-p tcp --dport 80` is `-p tcp -m tcp --dport 80`).
func (p *argParser) dport(v string) error {
	if p.r.Proto == 0 {
		return errors.New("--dport needs -p tcp or -p udp before it")
	}
	m := p.find(MatchDPort)
	if m == nil {
		p.r.Matches = append(p.r.Matches, Match{Kind: MatchDPort})
		m = &p.r.Matches[len(p.r.Matches)-1]
	}
	if m.Port != 0 {
		return errors.New("--dport given twice")
	}
	port, err := parsePort(v)
	if err != nil {
		return fmt.Errorf("--dport: %w", err)
	}
	m.Port = port
	return nil
}

// load is -m NAME: the protocol's own match, multiport or owner.
func (p *argParser) load(name string) error {
	var k MatchKind
	switch {
	case name == "multiport":
		k = MatchMultiport
	case name == "owner":
		k = MatchOwner
	case (name == "tcp" || name == "udp") && p.r.Proto != 0 && name == p.r.Proto.String():
		k = MatchDPort
	case name == "tcp" || name == "udp":
		return fmt.Errorf("-m %s needs -p %s before it", name, name)
	default:
		return fmt.Errorf("unknown match %q (osm-init used multiport and owner)", name)
	}
	if p.find(k) != nil {
		return fmt.Errorf("match %q given twice", name)
	}
	p.r.Matches = append(p.r.Matches, Match{Kind: k})
	return nil
}

func (p *argParser) find(k MatchKind) *Match {
	for i := range p.r.Matches {
		if p.r.Matches[i].Kind == k {
			return &p.r.Matches[i]
		}
	}
	return nil
}

func (p *argParser) dports(v string) error {
	m := p.find(MatchMultiport)
	if m == nil || m.Ports != nil {
		return errors.New(`--dports without "--match multiport"`)
	}
	ports, err := parsePorts(v)
	if err != nil {
		return fmt.Errorf("--dports %s: %w", v, err)
	}
	m.Ports = ports
	return nil
}

// uid reads a uid, or a range of one (iptables prints it as the uid).
func (p *argParser) uid(v string, neg bool) error {
	m := p.find(MatchOwner)
	if m == nil || p.uidGiven {
		return errors.New(`--uid-owner without "-m owner"`)
	}
	lo, hi, isRange := strings.Cut(v, "-")
	uid, err := parseDecimal(lo, 32)
	if err == nil && isRange && hi != lo {
		err = errors.New("a range")
	}
	if err != nil {
		return fmt.Errorf("--uid-owner %s: not a single uid: %w", v, err)
	}
	m.UID, m.Not, p.uidGiven = uint32(uid), neg, true
	return nil
}
