package cni

// cmdDel has nothing to undo: the rules live in the pod's netns, which
// goes away with the sandbox, and a later ADD in the same netns replaces
// them. It never fails, so a missing netns, pod, API or even a broken
// config cannot keep a pod from being deleted.
func (p *Plugin) cmdDel(args *cmdArgs) error {
	pod, _ := parseArgs(args.Args)
	conf, err := parseConf(args.StdinData, false)
	if err != nil {
		newLogger(0, "DEL", pod).Warn("ignoring invalid network config on DEL", "error", err)
		return nil
	}
	newLogger(conf.logLevel, "DEL", pod).Debug("nothing to undo", "netns", args.Netns)
	return nil
}
