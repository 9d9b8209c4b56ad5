package cni

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// supportedVersions are the CNI versions mesh-cni speaks: every version
// with a prevResult, which a chained plugin needs (0.3.1 on).
var supportedVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// highestVersion is the spec version this package implements (SPEC.md is
// at 1.1.0). VERSION reports it as its cniVersion, as skel did, and errors
// carry it until the config's own version has been accepted.
const highestVersion = "1.1.0"

// noVersion is what a config without cniVersion is taken for: the spec
// before 0.2.0 had no version field (libcni decodes it the same way).
const noVersion = "0.1.0"

// versionInfo is the VERSION command's output (SPEC.md section 5,
// "VERSION Success").
type versionInfo struct {
	CNIVersion        string   `json:"cniVersion"`
	SupportedVersions []string `json:"supportedVersions"`
}

// writeVersionInfo answers VERSION: compact JSON and a newline, byte for
// byte what skel printed. The spec says cniVersion is the one on input;
// skel never read stdin for VERSION and reported its own highest version,
// and libcni goes by supportedVersions, so mesh-cni does as skel did.
func writeVersionInfo(w io.Writer) error {
	return json.NewEncoder(w).Encode(versionInfo{CNIVersion: highestVersion, SupportedVersions: supportedVersions})
}

// minVersion is the first spec version that has command, for the commands
// that came after 0.3.1: CHECK with 0.4.0, GC and STATUS with 1.1.0.
func minVersion(command string) string {
	switch command {
	case "CHECK":
		return "0.4.0"
	case "GC", "STATUS":
		return "1.1.0"
	}
	return ""
}

// checkConfVersion decides whether mesh-cni can run command for a config
// of version v, with skel's codes and messages: a command newer than the
// config's version, or than mesh-cni, is code 1 saying which; otherwise v
// must be one of supportedVersions exactly (SPEC.md section 1, "Version
// considerations": the runtime picks a version the plugin reported).
func checkConfVersion(command, v string) error {
	if first := minVersion(command); first != "" {
		ok, err := versionAtLeast(v, first)
		if err != nil {
			return newError(codeDecodingFailure, err.Error(), "")
		}
		if !ok {
			return newError(codeIncompatibleVersion, "config version does not allow "+command, "")
		}
		if ok, _ := versionAtLeast(highestVersion, v); !ok {
			return newError(codeIncompatibleVersion, "plugin version does not allow "+command, "")
		}
	}
	if !slices.Contains(supportedVersions, v) {
		return newError(codeIncompatibleVersion, "incompatible CNI versions",
			fmt.Sprintf("config is %q, plugin supports %q", v, supportedVersions))
	}
	return nil
}

// versionAtLeast says whether version a is b or later.
func versionAtLeast(a, b string) (bool, error) {
	va, err := parseVersion(a)
	if err != nil {
		return false, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return false, err
	}
	return slices.Compare(va[:], vb[:]) >= 0, nil
}

// parseVersion reads "major[.minor[.micro]]", the form libcni accepts
// (not full semver: no pre-release or build suffix), with its messages.
func parseVersion(v string) ([3]int, error) {
	var out [3]int
	if v == "" {
		v = noVersion
	}
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return out, fmt.Errorf("invalid version %q: too many parts", v)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, fmt.Errorf("failed to convert %s version part %q: %w", [3]string{"major", "minor", "micro"}[i], p, err)
		}
		out[i] = n
	}
	return out, nil
}
