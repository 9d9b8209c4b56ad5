package cni

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// podIPs returns the addresses the previous plugins gave the pod.
func podIPs(prev types.Result) ([]netip.Addr, error) {
	res, err := current.NewResultFromResult(prev)
	if err != nil {
		return nil, fmt.Errorf("converting prevResult: %w", err)
	}
	var ips []netip.Addr
	for _, ip := range res.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP); ok {
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

// passThrough prints prevResult unchanged in the requested version: a
// chained plugin that adds no interface or address must not alter it.
func passThrough(conf *NetConf) error {
	res, err := conf.PrevResult.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return fmt.Errorf("converting prevResult to version %s: %w", conf.CNIVersion, err)
	}
	return res.PrintTo(resultOutput)
}

// resultOutput is where results go: stdout, where the runtime reads them.
var resultOutput io.Writer = os.Stdout
