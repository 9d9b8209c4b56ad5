package cni

import (
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/mesh-cni/mesh-cni/pkg/rules"
)

// applied is what installing rule sets did.
type applied struct {
	backend string
	changed bool
}

// netnsRules installs and verifies rule sets in a pod's network namespace;
// tests replace it.
type netnsRules interface {
	Apply(netnsPath string, sets []rules.RuleSet) (applied, error)
	Verify(netnsPath string, sets []rules.RuleSet) error
}

// kernelRules enters the namespace and runs the rule engine there.
type kernelRules struct {
	opts rules.ApplyOptions
}

func (k kernelRules) Apply(netnsPath string, sets []rules.RuleSet) (applied, error) {
	var res rules.ApplyResult
	err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		var err error
		res, err = rules.Apply(sets, k.opts)
		return err
	})
	return applied{backend: string(res.Backend), changed: res.Changed}, err
}

func (k kernelRules) Verify(netnsPath string, sets []rules.RuleSet) error {
	return ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		return rules.Verify(sets, k.opts)
	})
}
