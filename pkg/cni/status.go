package cni

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// iptablesRestoreNames are the programs one of which the rule engine needs.
var iptablesRestoreNames = []string{"iptables-restore", "iptables-nft-restore", "iptables-legacy-restore"}

// sbinDirs are searched after PATH, which runtimes often pass without them.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// cmdStatus (CNI 1.1) reports the plugin not ready when it could not
// configure a meshed pod: the node agent does not answer, or there is no
// iptables.
func (p *Plugin) cmdStatus(args *cmdArgs) error {
	conf, err := parseConf(args.StdinData, false)
	if err != nil {
		return newError(codeInvalidConfig, err.Error(), "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), conf.apiTimeout)
	defer cancel()
	if err := p.ping(ctx, conf); err != nil {
		return newError(codePluginNotAvailable, "mesh-cni: "+err.Error(), "")
	}
	if !iptablesInstalled() {
		return newError(codePluginNotAvailable, fmt.Sprintf("mesh-cni: none of %v found in PATH or %v", iptablesRestoreNames, sbinDirs), "")
	}
	return nil
}

// ping asks the node agent whether it is serving.
func (p *Plugin) ping(ctx context.Context, conf *NetConf) error {
	api, err := p.newAPI(ctx, conf)
	if err != nil {
		return err
	}
	defer api.Close()
	return api.Ping(ctx)
}

// iptablesInstalled is a variable so that tests need not depend on the host.
var iptablesInstalled = func() bool {
	for _, name := range iptablesRestoreNames {
		if _, err := exec.LookPath(name); err == nil {
			return true
		}
		for _, d := range sbinDirs {
			if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Mode()&0o111 != 0 {
				return true
			}
		}
	}
	return false
}
