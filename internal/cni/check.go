package cni

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
)

// cmdCheck verifies that the pod's netns holds exactly the rules its
// current configuration asks for; a pod out of scope has nothing to check.
func (p *Plugin) cmdCheck(args *skel.CmdArgs) error {
	inv, err := start("CHECK", args, true)
	if err != nil {
		return err
	}
	if inv.outOfNamespace() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), inv.conf.apiTimeout)
	defer cancel()
	api, pl, err := p.planFor(ctx, inv)
	if api != nil {
		defer api.Close()
	}
	if err != nil || pl == nil || pl.skip != "" {
		return cniErrorOrNil(err)
	}
	if err := p.netns.Verify(args.Netns, pl.sets); err != nil {
		inv.log.Error("rules differ from the pod's configuration", "error", err, "netns", args.Netns)
		return cniError(fmt.Errorf("checking rules in %s for pod %s: %w", args.Netns, inv.pod, err))
	}
	inv.log.Debug("rules verified", "netns", args.Netns)
	return nil
}

func cniErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return cniError(err)
}
