package cni

import (
	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

// applied is what installing rule sets did.
type applied struct {
	backend string
	changed bool
	// writer is what wrote the rules: "netlink", "iptables-restore", or
	// "none" when they were in place already.
	writer string
}

// netnsRules installs and verifies rule sets in a pod's network namespace;
// tests replace it.
type netnsRules interface {
	// Apply installs sets; wireDir is where the record of the node's
	// netlink-writer comparison is kept (apply.Options.WireDir).
	Apply(netnsPath string, sets []rules.RuleSet, wireDir string) (applied, error)
	Verify(netnsPath string, sets []rules.RuleSet) error
}

// kernelRules runs the rule engine in the namespace: the engine's worker
// thread enters it directly, so an ADD makes one thread for it, not two.
type kernelRules struct {
	opts apply.Options
}

func (k kernelRules) Apply(netnsPath string, sets []rules.RuleSet, wireDir string) (applied, error) {
	opts := k.opts
	opts.Netns, opts.WireDir = netnsPath, wireDir
	res, err := apply.Apply(sets, opts)
	writer := "none"
	switch {
	case res.Netlink:
		writer = "netlink"
	case res.Changed:
		writer = "iptables-restore"
	}
	return applied{backend: string(res.Backend), changed: res.Changed, writer: writer}, err
}

func (k kernelRules) Verify(netnsPath string, sets []rules.RuleSet) error {
	opts := k.opts
	opts.Netns = netnsPath
	return apply.Verify(sets, opts)
}
