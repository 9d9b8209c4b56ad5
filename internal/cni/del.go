package cni

import "github.com/containernetworking/cni/pkg/skel"

// cmdDel has nothing to undo: the rules live in the pod's netns, which
// goes away with the sandbox, and a later ADD in the same netns replaces
// them. It never fails, so a missing netns, pod, API or even a broken
// config cannot keep a pod from being deleted.
func (p *Plugin) cmdDel(args *skel.CmdArgs) error {
	pod, _ := parseArgs(args.Args)
	conf, err := parseConf(args.StdinData, false)
	if err != nil {
		newLogger(0, "DEL", pod).Warn("ignoring invalid network config on DEL", "error", err)
		return nil
	}
	log := newLogger(conf.logLevel, "DEL", pod)
	conf.warnUnknown(log)
	log.Debug("nothing to undo", "netns", args.Netns)
	return nil
}
