package cni

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// This file is the CNI execution protocol (SPEC.md section 2): libcni's
// skel reads the parameters and the config, checks the versions, runs the
// command and answers VERSION, as in every plugin of
// containernetworking/plugins. What mesh-cni adds on top of it, each for a
// reason given where it is done: the error object carries cniVersion,
// CNI_PATH is optional but for GC, an unknown CNI_COMMAND is refused before
// stdin is read, and ADD and DEL refuse the plugin's own netns before they
// run.

// pluginInfo lists the CNI versions mesh-cni speaks: every version with a
// prevResult, which a chained plugin needs (0.3.1 on), up to the library's.
var pluginInfo = version.PluginSupports("0.3.1", "0.4.0", "1.0.0", "1.1.0")

// Main runs the plugin for the runtime and exits: 0 on success, 1 after
// printing the error object on stdout (SPEC.md section 2, "Errors").
func Main() {
	os.Exit(New().run())
}

// run is Main without the exit: it returns the exit status.
func (p *Plugin) run() int {
	// Until skel has accepted the config's version, errors carry the
	// highest version mesh-cni speaks.
	errVersion := version.Current()
	e := p.main(os.Getenv("CNI_COMMAND"), &errVersion)
	if e == nil {
		return 0
	}
	if err := printError(os.Stdout, e, errVersion); err != nil {
		fmt.Fprintf(logOutput, "mesh-cni: writing the error JSON to stdout: %v (error was: %v)\n", err, e)
	}
	return 1
}

// main runs command through skel; errVersion becomes the config's
// cniVersion once skel has accepted it.
func (p *Plugin) main(command string, errVersion *string) *types.Error {
	switch command {
	case "", "ADD", "CHECK", "DEL", "GC", "STATUS", "VERSION":
	default:
		// skel would read stdin and check the config's name first; the
		// command is what is wrong, and what the message must say.
		return types.NewError(types.ErrInvalidEnvironmentVariables, "unknown CNI_COMMAND: "+command, "")
	}
	if command != "GC" && os.Getenv("CNI_PATH") == "" {
		// skel requires CNI_PATH for every command; SPEC.md section 2 has
		// it optional but for GC, and mesh-cni delegates to no plugin and
		// never reads it. Given as the directory mesh-cni runs from, which
		// the runtime found on its path, skel accepts its absence.
		if err := os.Setenv("CNI_PATH", ownDir()); err != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("setting CNI_PATH: %v", err), "")
		}
	}
	// No "about" text: the binary runs its CLI when CNI_COMMAND is unset,
	// so skel sees an empty one only from a runtime, which must hear code 4.
	return skel.PluginMainFuncsWithError(p.funcs(errVersion), pluginInfo, "")
}

// ownDir is the directory of the running binary.
func ownDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

// funcs are the plugin's commands for skel, each one recording the
// config's accepted version for its errors and turning a panic into a CNI
// error; ADD and DEL check the netns first.
func (p *Plugin) funcs(errVersion *string) skel.CNIFuncs {
	command := func(name string, f func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
		return accepted(errVersion, recovering(name, f))
	}
	return skel.CNIFuncs{
		Add:    command("ADD", notOwnNetns(p.cmdAdd)),
		Check:  command("CHECK", p.cmdCheck),
		Del:    command("DEL", notOwnNetns(p.cmdDel)),
		GC:     command("GC", p.cmdGC),
		Status: command("STATUS", p.cmdStatus),
	}
}

// accepted records the config's cniVersion before f runs: skel calls a
// command only for a version it accepted, and from then on an error
// object carries that version (SPEC.md section 5, "Error").
func accepted(errVersion *string, f func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		if v, err := new(version.ConfigDecoder).Decode(args.StdinData); err == nil {
			*errVersion = v
		}
		return f(args)
	}
}

// notOwnNetns refuses the plugin's own netns before f runs, with skel's
// check and message. skel checks after ADD and DEL, once ADD has installed
// its rules and printed its result; in the plugin's own namespace those
// rules would redirect the node's traffic, so mesh-cni refuses first and
// prints nothing. A path that cannot be opened passes, as with skel: DEL
// must succeed for a namespace already gone.
func notOwnNetns(f func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		if o := args.NetnsOverride; o == "1" || strings.EqualFold(o, "true") {
			return f(args)
		}
		own, e := ns.CheckNetNS(args.Netns)
		if e != nil {
			return e
		}
		if own {
			return types.NewError(types.ErrInvalidNetNS, "plugin's netns and netns from CNI_NETNS should not be the same", "")
		}
		return f(args)
	}
}
