package cnirun

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestFindPicksTheLastMatchingCall(t *testing.T) {
	calls := []Call{
		{Plugin: "mesh-cni", Command: "ADD", ContainerID: "a", Stderr: "first"},
		{Plugin: "bridge", Command: "ADD", ContainerID: "a"},
		{Plugin: "mesh-cni", Command: "ADD", ContainerID: "b"},
		{Plugin: "mesh-cni", Command: "ADD", ContainerID: "a", Stderr: "second"},
		{Plugin: "mesh-cni", Command: "DEL", ContainerID: "a"},
	}
	c, ok := Find(calls, "mesh-cni", "ADD", "a")
	if !ok || c.Stderr != "second" {
		t.Errorf("Find = %+v, %v; want the second mesh-cni ADD of a", c, ok)
	}
	if _, ok := Find(calls, "mesh-cni", "CHECK", "a"); ok {
		t.Error("Find found a CHECK that was never made")
	}
}

func TestEnvValue(t *testing.T) {
	env := []string{"CNI_COMMAND=ADD", "CNI_ARGS=K8S_POD_NAME=a=b", "EMPTY="}
	for key, want := range map[string]string{"CNI_COMMAND": "ADD", "CNI_ARGS": "K8S_POD_NAME=a=b", "EMPTY": "", "MISSING": ""} {
		if got := envValue(env, key); got != want {
			t.Errorf("envValue(%s) = %q, want %q", key, got, want)
		}
	}
}

// TestPluginError decodes failures as libcni does: the CNI error a plugin
// prints on stdout, else its stderr.
func TestPluginError(t *testing.T) {
	exit := errors.New("exit status 1")
	var e *types.Error
	err := pluginError(exit, []byte(`{"cniVersion":"1.0.0","code":11,"msg":"try later"}`), nil)
	if !errors.As(err, &e) || e.Code != types.ErrTryAgainLater || e.Msg != "try later" {
		t.Errorf("stdout error: got %#v", err)
	}
	if err := pluginError(exit, nil, []byte("boom")); !strings.Contains(err.Error(), "boom") {
		t.Errorf("stderr error: got %v, want it to carry the stderr", err)
	}
	if err := pluginError(exit, []byte("not json"), nil); !strings.Contains(err.Error(), "not json") {
		t.Errorf("garbled stdout: got %v, want it quoted", err)
	}
}

// TestRecorderRunsAndRecords runs a real program as a "plugin": the call is
// recorded with its command, container and failure.
func TestRecorderRunsAndRecords(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	r := &Recorder{}
	env := []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1"}
	if _, err := r.ExecPlugin(t.Context(), sh, []byte("echo ok; exit 0"), env); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ExecPlugin(t.Context(), sh, []byte("echo oops >&2; exit 3"), env); err == nil {
		t.Fatal("a failing plugin gave no error")
	}
	calls := r.Take()
	if len(calls) != 2 || calls[0].Plugin != "sh" || calls[0].Command != "ADD" || calls[0].ContainerID != "c1" || calls[0].Err != nil {
		t.Fatalf("calls = %+v", calls)
	}
	if calls[1].Err == nil || !strings.Contains(calls[1].Stderr, "oops") {
		t.Errorf("failed call = %+v", calls[1])
	}
	if len(r.Take()) != 0 {
		t.Error("Take did not forget the calls")
	}
}
