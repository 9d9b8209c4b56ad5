package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// TestErrorJSONAsLibrary checks the error object against what skel printed
// (types.Error.Print), with the spec's cniVersion as first key.
func TestErrorJSONAsLibrary(t *testing.T) {
	for _, e := range []*types.Error{
		types.NewError(types.ErrInvalidEnvironmentVariables, "required env variables [CNI_NETNS] missing", ""),
		types.NewError(types.ErrIncompatibleCNIVersion, "incompatible CNI versions", `config is "0.2.0", plugin supports ["0.3.1" "1.1.0"]`),
		types.NewError(types.ErrInternal, `<mesh-cni> "quoted" & tab	é`, "details"),
	} {
		want := stdoutOf(t, e.Print)
		want = strings.Replace(want, "{\n", "{\n    \"cniVersion\": \"0.4.0\",\n", 1)
		var out bytes.Buffer
		if err := (&errorResult{Code: e.Code, Msg: e.Msg, Details: e.Details}).print(&out, "0.4.0"); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
		}
		if got := (&errorResult{Code: e.Code, Msg: e.Msg, Details: e.Details}).Error(); got != e.Error() {
			t.Errorf("Error() = %q, library's %q", got, e.Error())
		}
	}
}

// TestRunPrintsErrors checks the exit status and the error's cniVersion:
// the config's once accepted, else the highest.
func TestRunPrintsErrors(t *testing.T) {
	t.Cleanup(func() { resultOutput, logOutput = os.Stdout, os.Stderr })
	logOutput = &bytes.Buffer{}
	for _, tt := range []struct {
		c           protoCase
		wantVersion string
		wantCode    uint
	}{
		{protoCase{"missing", map[string]string{"CNI_COMMAND": "ADD"}, ""}, "1.1.0", codeInvalidEnv},
		{protoCase{"incompatible", addEnv("ADD"), confJSON("0.2.0", "")}, "1.1.0", codeIncompatibleVersion},
		{protoCase{"config", addEnv("ADD"), confJSON("0.4.0", `,"bogus":1`)}, "0.4.0", codeInvalidConfig},
		{protoCase{"transient", addEnv("ADD", "CNI_ARGS", "K8S_POD_NAMESPACE=test;K8S_POD_NAME=x"), confJSON("1.0.0", `,"agentSocket":"/nonexistent.sock","prevResult":`+prev100)}, "1.0.0", codeTryAgainLater},
	} {
		var out bytes.Buffer
		resultOutput = &out
		code := testPlugin().run(func(k string) string { return tt.c.env[k] }, strings.NewReader(tt.c.stdin))
		var e types.Error
		if err := json.Unmarshal(out.Bytes(), &e); code != 1 || err != nil || e.Code != tt.wantCode {
			t.Errorf("%s: exit %d, stdout %s (%v), want exit 1 and code %d", tt.c.name, code, out.String(), err, tt.wantCode)
		}
		if !strings.HasPrefix(out.String(), "{\n    \"cniVersion\": \""+tt.wantVersion+"\",\n") {
			t.Errorf("%s: error object %s, want cniVersion %s first", tt.c.name, out.String(), tt.wantVersion)
		}
	}
}

func TestPanicIsACNIError(t *testing.T) {
	var logs bytes.Buffer
	logOutput = &logs
	t.Cleanup(func() { logOutput = os.Stderr })
	h := recovering("ADD", func(*cmdArgs) error { panic("boom") })
	err := h(&cmdArgs{Args: "K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1"})
	var e *errorResult
	if !errors.As(err, &e) || e.Code != codeInternal || e.Msg != "mesh-cni ADD: internal error: boom" {
		t.Fatalf("panic gave %#v", err)
	}
	if !strings.Contains(logs.String(), "namespace=test pod=web-1") {
		t.Errorf("panic log does not name the pod: %s", logs.String())
	}
}
