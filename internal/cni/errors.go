package cni

import (
	"encoding/json"
	"io"

	"github.com/containernetworking/cni/pkg/types"
)

// Errors are libcni's types.Error with its well-known codes (SPEC.md
// section 5, "Error"): 4 for a bad CNI_* variable, 7 for a network config
// that does not validate, 8 for the plugin's own netns, 11 (try again
// later) when the node agent or the API is unavailable, so that kubelet
// retries the sandbox, 50 for STATUS's "cannot service ADD requests", and
// 999, which libcni's plugins use for any other error.

// errorJSON is the error object on the wire: types.Error's code, msg and
// details, after the spec's cniVersion, which types.Error.Print leaves
// out. libcni, which reads code, msg and details, ignores it.
type errorJSON struct {
	CNIVersion string `json:"cniVersion"`
	*types.Error
}

// printError writes e as the runtime reads it on stdout after a non-zero
// exit (SPEC.md section 2, "Errors"), laid out as types.Error.Print lays it
// out.
func printError(w io.Writer, e *types.Error, cniVersion string) error {
	data, err := json.MarshalIndent(errorJSON{CNIVersion: cniVersion, Error: e}, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
