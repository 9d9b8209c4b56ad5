package cni

import (
	"encoding/json"
	"errors"
	"io"
)

// The CNI error codes mesh-cni returns. 1-99 are the spec's well-known
// codes (SPEC.md section 5, "Error"); 999 is not in the spec (100+ is free
// for plugins) but is what libcni's plugins, skel included, use for "any
// other error", so runtimes and people already know it.
const (
	// codeIncompatibleVersion: the config's cniVersion is not one mesh-cni
	// speaks, or is too old for the command.
	codeIncompatibleVersion uint = 1
	// codeInvalidEnv: a required CNI_* variable is missing or invalid; the
	// message must name it.
	codeInvalidEnv uint = 4
	// codeIOFailure: stdin or stdout failed.
	codeIOFailure uint = 5
	// codeDecodingFailure: stdin is not JSON, or a version is unparsable.
	codeDecodingFailure uint = 6
	// codeInvalidConfig: the network config does not validate.
	codeInvalidConfig uint = 7
	// codeInvalidNetns: CNI_NETNS is the plugin's own namespace.
	codeInvalidNetns uint = 8
	// codeTryAgainLater: a transient condition (agent or API unavailable);
	// kubelet retries the sandbox.
	codeTryAgainLater uint = 11
	// codePluginNotAvailable: STATUS's "cannot service ADD requests".
	codePluginNotAvailable uint = 50
	// codeInternal: everything else.
	codeInternal uint = 999
)

// errorResult is a failed command's outcome: the spec's error object
// (SPEC.md section 5, "Error") without its cniVersion, which the protocol
// layer adds when it prints it.
type errorResult struct {
	Code    uint
	Msg     string
	Details string
}

// newError returns the error with the given code; the return type is error
// so that callers never hand on a typed nil.
func newError(code uint, msg, details string) error {
	return &errorResult{Code: code, Msg: msg, Details: details}
}

// Error reads like libcni's types.Error, which logs and tests have
// matched on: the message, then "; " and the details when there are any.
func (e *errorResult) Error() string {
	if e.Details == "" {
		return e.Msg
	}
	return e.Msg + "; " + e.Details
}

// asErrorResult gives err's CNI error: itself when it is one (wrapped or
// not: skel, too, did not wrap an error in an error), else code 999 with
// err's text.
func asErrorResult(err error) *errorResult {
	var e *errorResult
	if errors.As(err, &e) {
		return e
	}
	return &errorResult{Code: codeInternal, Msg: err.Error()}
}

// errorJSON is the error object on the wire, SPEC.md section 5 "Error":
// cniVersion, code, msg and details. skel printed the last three only;
// the spec asks for cniVersion too, and libcni, which reads code, msg and
// details, ignores it.
type errorJSON struct {
	CNIVersion string `json:"cniVersion"`
	Code       uint   `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

// print writes e as the runtime reads it on stdout after a non-zero exit
// (SPEC.md section 2, "Errors"), indented and without a final newline as
// skel printed it.
func (e *errorResult) print(w io.Writer, cniVersion string) error {
	data, err := json.MarshalIndent(errorJSON{CNIVersion: cniVersion, Code: e.Code, Msg: e.Msg, Details: e.Details}, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
