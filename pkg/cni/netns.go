package cni

import (
	"strings"
	"syscall"

	"github.com/mesh-cni/mesh-cni/pkg/rules"
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
	// netlink-writer comparison is kept (rules.ApplyOptions.WireDir).
	Apply(netnsPath string, sets []rules.RuleSet, wireDir string) (applied, error)
	Verify(netnsPath string, sets []rules.RuleSet) error
}

// kernelRules runs the rule engine in the namespace: the engine's worker
// thread enters it directly, so an ADD makes one thread for it, not two.
type kernelRules struct {
	opts rules.ApplyOptions
}

func (k kernelRules) Apply(netnsPath string, sets []rules.RuleSet, wireDir string) (applied, error) {
	opts := k.opts
	opts.Netns, opts.WireDir = netnsPath, wireDir
	res, err := rules.Apply(sets, opts)
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
	return rules.Verify(sets, opts)
}

// checkNotOwnNetns refuses a CNI_NETNS that is the plugin's own network
// namespace, which a runtime passes only by mistake and where mesh-cni's
// rules would redirect the node's traffic: code 8, with skel's message.
// A path that cannot be opened is not refused, as with skel: DEL must
// succeed for a namespace already gone, and ADD enters the namespace only
// to install rules, failing there. override ("1" or "true", skel's
// CNI_NETNS_OVERRIDE) turns the check off.
func checkNotOwnNetns(path, override string) error {
	if override == "1" || strings.EqualFold(override, "true") || path == "" {
		return nil
	}
	var target, own syscall.Stat_t
	if syscall.Stat(path, &target) != nil {
		return nil
	}
	// The process's namespace: no thread has entered another one yet, so
	// every thread is in it. (skel locked the goroutine to its thread to
	// read the thread's; locking starts the runtime's template thread, a
	// clone a pod skipped by namespace need not pay.)
	if err := syscall.Stat("/proc/self/ns/net", &own); err != nil {
		return newError(codeInvalidNetns, "get plugin's netns failed", "")
	}
	if target.Dev == own.Dev && target.Ino == own.Ino {
		return newError(codeInvalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same", "")
	}
	return nil
}
