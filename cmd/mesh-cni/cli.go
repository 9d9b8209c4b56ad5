package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/validate"
)

const usage = `mesh-cni: a chained CNI plugin that installs OSM's traffic-redirection rules
in each meshed pod's network namespace. Run with CNI_COMMAND set, it speaks the
CNI protocol; run by hand, it has these commands:

  mesh-cni render [flags]   print the rules for a configuration
  mesh-cni validate [flags] in a meshed pod's first init container: exit 0
                            when the pod's TCP is redirected by its rules, 42
                            when it is not (the node agent repairs such pods)
  mesh-cni help             this text

Flags of render (lists are comma separated, spaces allowed, as in OSM's
MeshConfig and pod annotations):
  --profile osm-v0|osm-v1.0|osm-v1  rule generation (default osm-v0): osm-v0 the
                                  chains of OSM v0.8-v0.11 and its troubleshooting
                                  guide; osm-v1.0 OSM v1.0.x; osm-v1 OSM v1.1-v1.2.4
                                  and osm-edge (the plugin's profile "auto" picks
                                  one from what the cluster shows)
  --format osm-init|restore       osm-init: the command line osm-init ran (default);
                                  restore: the iptables-restore document mesh-cni applies
  --outbound-ip-range-exclusion-list L   e.g. "1.1.1.1/32, 2.2.2.2/24"
  --outbound-ip-range-inclusion-list L   osm-v1 only: redirect only these ranges
  --outbound-port-exclusion-list L       e.g. "6379, 7070"
  --inbound-port-exclusion-list L        e.g. "8080"
  --network-interface-exclusion-list L   osm-v1 only, e.g. "eth1"
  --local-proxy-mode Localhost|PodIP     osm-v1 only (default Localhost)
  --local-dns-proxy              osm-v1 only: osm-edge's local DNS proxy is on
                                 (MeshConfig spec.sidecar.localDNSProxy.enable)
  --pod-ip IP                    the pod's address, for PodIP mode
  --ipv6                         render the IPv6 (ip6tables) rules instead of IPv4

Flags of validate:
  --profile osm-v0|osm-v1.0|osm-v1  the rule generation of the pod's record
                                  (default osm-v1); the container's uid must
                                  be the one the webhook gives it for it
  --timeout D                     give up after D (default 5s)

A bad value exits with status 2 and names the flag and the value.

As a plugin, mesh-cni reads osm-edge's MeshConfig spec.traffic.interceptionMode:
none (what osm-edge users set for mesh-cni) or no field: it installs the rules;
ebpf: osm-edge's own interceptor redirects and mesh-cni installs nothing;
iptables: osm-edge's osm-init does it and mesh-cni steps aside for such pods.
`

// errUsage marks errors that deserve exit status 2.
var errUsage = errors.New("usage")

func runCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "render":
		err = render(args[1:], stdout)
	case "validate":
		err = runValidate(args[1:], stdout)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: %s: unknown command (try mesh-cni help)", errUsage, args[0])
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "mesh-cni %s\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		if errors.Is(err, errUsage) {
			return 2
		}
		if errors.Is(err, validate.ErrNotRedirected) {
			return validate.NotRedirectedExitCode
		}
		return 1
	}
	return 0
}

// renderFlags holds render's flags as the user typed them; each is parsed
// after flag parsing so its error can name the flag.
type renderFlags struct {
	profile, format, localProxyMode, podIP    string
	ipExcl, ipIncl, outPorts, inPorts, ifaces string
	ipv6, localDNSProxy                       bool
}

func render(args []string, stdout io.Writer) error {
	var f renderFlags
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.profile, "profile", string(rules.ProfileOSMv0), "")
	fs.StringVar(&f.format, "format", "osm-init", "")
	fs.StringVar(&f.ipExcl, "outbound-ip-range-exclusion-list", "", "")
	fs.StringVar(&f.ipIncl, "outbound-ip-range-inclusion-list", "", "")
	fs.StringVar(&f.outPorts, "outbound-port-exclusion-list", "", "")
	fs.StringVar(&f.inPorts, "inbound-port-exclusion-list", "", "")
	fs.StringVar(&f.ifaces, "network-interface-exclusion-list", "", "")
	fs.StringVar(&f.localProxyMode, "local-proxy-mode", "", "")
	fs.StringVar(&f.podIP, "pod-ip", "", "")
	fs.BoolVar(&f.ipv6, "ipv6", false, "")
	fs.BoolVar(&f.localDNSProxy, "local-dns-proxy", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: render: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: render: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := f.config()
	if err != nil {
		return fmt.Errorf("%w: render: %v", errUsage, err)
	}
	fam := rules.IPv4
	if f.ipv6 {
		fam = rules.IPv6
	}
	rs, err := rules.Build(cfg, fam)
	if err != nil {
		return fmt.Errorf("%w: render: %v", errUsage, err)
	}
	switch f.format {
	case "osm-init":
		_, err = fmt.Fprintln(stdout, rules.RenderOSMInit(rs))
	case "restore":
		var doc string
		if doc, err = rules.RenderRestore(rs); err != nil {
			return fmt.Errorf("%w: render: %v (give --pod-ip)", errUsage, err)
		}
		_, err = fmt.Fprint(stdout, doc)
	default:
		return fmt.Errorf("%w: render: --format: unknown format %q (want osm-init or restore)", errUsage, f.format)
	}
	return err
}

// config turns the flags into a rule configuration; every error names the
// flag it came from.
func (f renderFlags) config() (rules.Config, error) {
	p, err := rules.ParseProfile(f.profile)
	if err != nil {
		return rules.Config{}, fmt.Errorf("--profile: %v", err)
	}
	cfg := rules.DefaultConfig(p)
	lists := []struct {
		flag  string
		parse func(string) error
	}{
		{"outbound-ip-range-exclusion-list", func(s string) (err error) { cfg.OutboundIPRangeExclusions, err = rules.ParseCIDRList(s); return }},
		{"outbound-ip-range-inclusion-list", func(s string) (err error) { cfg.OutboundIPRangeInclusions, err = rules.ParseCIDRList(s); return }},
		{"outbound-port-exclusion-list", func(s string) (err error) { cfg.OutboundPortExclusions, err = rules.ParsePortList(s); return }},
		{"inbound-port-exclusion-list", func(s string) (err error) { cfg.InboundPortExclusions, err = rules.ParsePortList(s); return }},
		{"network-interface-exclusion-list", func(s string) (err error) { cfg.NetworkInterfaceExclusions, err = rules.ParseInterfaceList(s); return }},
		{"local-proxy-mode", func(s string) (err error) { cfg.LocalProxyMode, err = rules.ParseLocalProxyMode(s); return }},
	}
	values := map[string]string{
		"outbound-ip-range-exclusion-list": f.ipExcl, "outbound-ip-range-inclusion-list": f.ipIncl,
		"outbound-port-exclusion-list": f.outPorts, "inbound-port-exclusion-list": f.inPorts,
		"network-interface-exclusion-list": f.ifaces, "local-proxy-mode": f.localProxyMode,
	}
	for _, l := range lists {
		if err := l.parse(values[l.flag]); err != nil {
			return rules.Config{}, fmt.Errorf("--%s: %v", l.flag, err)
		}
	}
	cfg.LocalDNSProxy = f.localDNSProxy
	if f.podIP != "" {
		a, err := netip.ParseAddr(f.podIP)
		if err != nil {
			return rules.Config{}, fmt.Errorf("--pod-ip: invalid IP address %q", f.podIP)
		}
		cfg.PodIPs = []netip.Addr{a}
	}
	return cfg, nil
}
