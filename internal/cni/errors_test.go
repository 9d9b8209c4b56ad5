package cni

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// TestErrorJSONAsLibrary checks the error object against what skel prints
// (types.Error.Print), with the spec's cniVersion as first key.
func TestErrorJSONAsLibrary(t *testing.T) {
	for _, e := range []*types.Error{
		types.NewError(types.ErrInvalidEnvironmentVariables, "required env variables [CNI_NETNS] missing", ""),
		types.NewError(types.ErrIncompatibleCNIVersion, "incompatible CNI versions", `config is "0.2.0", plugin supports ["0.3.1" "1.1.0"]`),
		types.NewError(types.ErrInternal, `<mesh-cni> "quoted" & tab	é`, "details"),
	} {
		want := stdoutOf(t, func() { _ = e.Print() })
		want = strings.Replace(want, "{\n", "{\n    \"cniVersion\": \"0.4.0\",\n", 1)
		var out bytes.Buffer
		if err := printError(&out, e, "0.4.0"); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
		}
	}
}

// TestRunPrintsErrors checks the exit status and the error's cniVersion:
// the config's once accepted, else the highest.
func TestRunPrintsErrors(t *testing.T) {
	t.Cleanup(func() { logOutput = os.Stderr })
	logOutput = &bytes.Buffer{}
	for _, tt := range []struct {
		c           protoCase
		wantVersion string
		wantCode    uint
	}{
		{protoCase{"missing", map[string]string{"CNI_COMMAND": "ADD"}, ""}, "1.1.0", types.ErrInvalidEnvironmentVariables},
		{protoCase{"incompatible", addEnv("ADD"), confJSON("0.2.0", "")}, "1.1.0", types.ErrIncompatibleCNIVersion},
		{protoCase{"config", addEnv("ADD"), confJSON("0.4.0", `,"profile":"istio"`)}, "0.4.0", types.ErrInvalidNetworkConfig},
		{protoCase{"transient", addEnv("ADD", "CNI_ARGS", "K8S_POD_NAMESPACE=test;K8S_POD_NAME=x"), confJSON("1.0.0", `,"agentSocket":"/nonexistent.sock","prevResult":`+prev100)}, "1.0.0", types.ErrTryAgainLater},
	} {
		code, out := viaRun(t, tt.c)
		_, e := splitError(t, out)
		if code != 1 || e.Code != tt.wantCode {
			t.Errorf("%s: exit %d, stdout %s, want exit 1 and code %d", tt.c.name, code, out, tt.wantCode)
		}
		if !strings.HasPrefix(out, "{\n    \"cniVersion\": \""+tt.wantVersion+"\",\n") {
			t.Errorf("%s: error object %s, want cniVersion %s first", tt.c.name, out, tt.wantVersion)
		}
	}
}

func TestPanicIsACNIError(t *testing.T) {
	var logs bytes.Buffer
	logOutput = &logs
	t.Cleanup(func() { logOutput = os.Stderr })
	h := recovering("ADD", func(*skel.CmdArgs) error { panic("boom") })
	err := h(&skel.CmdArgs{Args: "K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1"})
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.ErrInternal || e.Msg != "mesh-cni ADD: internal error: boom" {
		t.Fatalf("panic gave %#v", err)
	}
	if !strings.Contains(logs.String(), "namespace=test pod=web-1") {
		t.Errorf("panic log does not name the pod: %s", logs.String())
	}
}
