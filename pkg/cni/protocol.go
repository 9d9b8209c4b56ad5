package cni

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// This file is the CNI execution protocol (SPEC.md section 2) as far as
// mesh-cni needs it: the parameters in the environment, the config on
// stdin, the command dispatch, and the result or error on stdout with the
// exit status. It replaces libcni's skel, whose packages (a regexp
// compiled at package init, every result type of every version and their
// converters) added about 0.75 ms and 25 page faults to every exec on a
// 2-core VM, for a plugin that only passes prevResult through.

// cmdArgs is one invocation: the parameters of SPEC.md section 2
// "Parameters" and the network config read from stdin.
type cmdArgs struct {
	ContainerID string // CNI_CONTAINERID
	Netns       string // CNI_NETNS
	IfName      string // CNI_IFNAME
	Args        string // CNI_ARGS
	Path        string // CNI_PATH
	StdinData   []byte
}

// handler runs one command; an error that is not an *errorResult becomes
// code 999.
type handler func(*cmdArgs) error

// Main runs the plugin for the runtime and exits: 0 on success, 1 after
// printing the error object on stdout (SPEC.md section 2, "Errors").
func Main() {
	os.Exit(New().run(os.Getenv, os.Stdin))
}

// run is Main without the exit: it returns the exit status.
func (p *Plugin) run(getenv func(string) string, stdin io.Reader) int {
	errVersion, err := p.dispatch(getenv, stdin)
	if err == nil {
		return 0
	}
	if perr := asErrorResult(err).print(resultOutput, errVersion); perr != nil {
		fmt.Fprintf(logOutput, "mesh-cni: writing the error JSON to stdout: %v (error was: %v)\n", perr, err)
	}
	return 1
}

// dispatch runs the command CNI_COMMAND names. It returns the cniVersion
// errors are to carry: the config's once it was accepted, else the highest.
func (p *Plugin) dispatch(getenv func(string) string, stdin io.Reader) (string, error) {
	command := getenv("CNI_COMMAND")
	switch command {
	case "VERSION":
		// VERSION needs nothing but CNI_COMMAND and, as with skel, stdin
		// is not read (SPEC.md section 2, "VERSION").
		if err := writeVersionInfo(resultOutput); err != nil {
			return highestVersion, newError(codeIOFailure, err.Error(), "")
		}
		return highestVersion, nil
	case "":
		return highestVersion, newError(codeInvalidEnv, "required env variables [CNI_COMMAND] missing", "")
	}
	h := p.handler(command)
	if h == nil {
		return highestVersion, newError(codeInvalidEnv, "unknown CNI_COMMAND: "+command, "")
	}
	args, err := readArgs(command, getenv, stdin)
	if err != nil {
		return highestVersion, err
	}
	confVersion, err := checkConfHeader(args.StdinData)
	if err != nil {
		return highestVersion, err
	}
	if err := checkConfVersion(command, confVersion); err != nil {
		return highestVersion, err
	}
	if command == "ADD" || command == "DEL" {
		if err := checkNotOwnNetns(args.Netns, getenv("CNI_NETNS_OVERRIDE")); err != nil {
			return confVersion, err
		}
	}
	return confVersion, h(args)
}

// handler returns the plugin's handler of command, nil for one it does not
// know (SPEC.md section 2, "CNI operations").
func (p *Plugin) handler(command string) handler {
	var h handler
	switch command {
	case "ADD":
		h = p.cmdAdd
	case "CHECK":
		h = p.cmdCheck
	case "DEL":
		h = p.cmdDel
	case "GC":
		h = p.cmdGC
	case "STATUS":
		h = p.cmdStatus
	default:
		return nil
	}
	return recovering(command, h)
}

// requiredVars lists the parameters command requires besides CNI_COMMAND,
// from each operation's "Required environment parameters" in SPEC.md
// section 2. skel also required CNI_PATH for ADD, CHECK, DEL and STATUS,
// where the spec has it optional; mesh-cni delegates to no plugin and
// never reads it.
func requiredVars(command string) []string {
	switch command {
	case "ADD", "CHECK":
		return []string{"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}
	case "DEL":
		return []string{"CNI_CONTAINERID", "CNI_IFNAME"}
	case "GC":
		return []string{"CNI_PATH"}
	}
	return nil
}

// readArgs reads the parameters and stdin. A missing required variable is
// code 4 naming every one missing; a present one that is invalid is
// reported first, as skel did.
func readArgs(command string, getenv func(string) string, stdin io.Reader) (*cmdArgs, error) {
	var missing []string
	for _, name := range requiredVars(command) {
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
			continue
		}
		if err := validateVar(name, v); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, newError(codeInvalidEnv, fmt.Sprintf("required env variables [%s] missing", strings.Join(missing, ",")), "")
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return nil, newError(codeIOFailure, fmt.Sprintf("error reading from stdin: %v", err), "")
	}
	return &cmdArgs{
		ContainerID: getenv("CNI_CONTAINERID"),
		Netns:       getenv("CNI_NETNS"),
		IfName:      getenv("CNI_IFNAME"),
		Args:        getenv("CNI_ARGS"),
		Path:        getenv("CNI_PATH"),
		StdinData:   data,
	}, nil
}

// validateVar checks the syntax SPEC.md section 2 "Parameters" gives
// CNI_CONTAINERID, and the kernel's rules for an interface name.
func validateVar(name, v string) error {
	switch name {
	case "CNI_CONTAINERID":
		if !validName(v) {
			return newError(codeInvalidEnv, "invalid characters in containerID", v)
		}
	case "CNI_IFNAME":
		return validateIfName(v)
	}
	return nil
}

// validName says whether s starts with an alphanumeric character followed
// by alphanumerics, '_', '.' or '-': the spec's container ID, and libcni's
// rule for network names too.
func validName(s string) bool {
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return s != ""
}

// maxIfNameLen is the kernel's IFNAMSIZ less the terminating NUL.
const maxIfNameLen = 15

// validateIfName applies the kernel's dev_valid_name (net/core/dev.c),
// with skel's messages.
func validateIfName(name string) error {
	switch {
	case len(name) > maxIfNameLen:
		return newError(codeInvalidEnv, "interface name is too long", fmt.Sprintf("interface name should be less than %d characters", maxIfNameLen+1))
	case name == "." || name == "..":
		return newError(codeInvalidEnv, "interface name is . or ..", "")
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) }):
		return newError(codeInvalidEnv, "interface name contains / or : or whitespace characters", "")
	}
	return nil
}

// checkConfHeader checks what the protocol itself needs of the config
// (SPEC.md section 1, "Plugin configuration objects"): JSON, a valid name,
// and returns its cniVersion. parseConf checks the rest.
func checkConfHeader(data []byte) (string, error) {
	var head struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", newError(codeDecodingFailure, fmt.Sprintf("error unmarshall network config: %v", err), "")
	}
	if head.Name == "" {
		return "", newError(codeInvalidConfig, "missing network name", "")
	}
	if !validName(head.Name) {
		return "", newError(codeInvalidConfig, "invalid characters found in network name", head.Name)
	}
	if head.CNIVersion == "" {
		return noVersion, nil
	}
	return head.CNIVersion, nil
}
