package cni

import (
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
