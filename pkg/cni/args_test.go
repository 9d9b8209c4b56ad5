package cni

import (
	"fmt"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/containernetworking/cni/pkg/version"
)

// libraryK8sArgs is how mesh-cni read CNI_ARGS with libcni.
type libraryK8sArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_NAME               types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_UID                types.UnmarshallableString //nolint:revive // CNI_ARGS key
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString //nolint:revive // CNI_ARGS key
}

func TestParseArgsAsLibrary(t *testing.T) {
	for _, s := range []string{
		"",
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
		"K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;SOMETHING_ELSE=x",
		"K8S_POD_NAME=a;K8S_POD_NAME=b",
		"K8S_POD_NAME=",
		"IgnoreUnknown=TRUE;K8S_POD_NAME=x",
		"IgnoreUnknown=false;K8S_POD_NAME=x",
		"IgnoreUnknown=Yes;K8S_POD_NAME=x",
		"K8S_POD_NAME",
		"K8S_POD_NAME=a=b",
		"K8S_POD_NAME=x;",
		";K8S_POD_NAME=x",
		"=x",
		"k8s_pod_name=x",
	} {
		var a libraryK8sArgs
		a.IgnoreUnknown = true
		want := podRef{}
		wantErr := types.LoadArgs(s, &a)
		if wantErr == nil {
			want = podRef{Namespace: string(a.K8S_POD_NAMESPACE), Name: string(a.K8S_POD_NAME), UID: string(a.K8S_POD_UID)}
		} else {
			wantErr = fmt.Errorf("parsing CNI_ARGS: %w", wantErr)
		}
		got, err := parseArgs(s)
		if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("parseArgs(%q) = %+v, %v\n      libcni: %+v, %v", s, got, err, want, wantErr)
		}
	}
}

// TestNamesAsLibrary checks the container ID, network name and interface
// name rules against libcni's.
func TestNamesAsLibrary(t *testing.T) {
	for _, s := range []string{"abc", "a", "A-b_c.9", "-a", "_a", ".a", "a b", "a/b", "é", "aé", "a\x00", "abc-", "0", "eth0", "eth0123456789abc", "eth0123456789abcd",
		".", "..", "a:b", "a\tb", "a\u00a0b", "\xff"} {
		if got, want := validName(s), utils.ValidateContainerID(s) == nil; got != want {
			t.Errorf("validName(%q) = %v, libcni's container ID rule %v", s, got, want)
		}
		if got, want := validName(s), utils.ValidateNetworkName(s) == nil; got != want {
			t.Errorf("validName(%q) = %v, libcni's network name rule %v", s, got, want)
		}
		got, want := validateIfName(s), utils.ValidateInterfaceName(s)
		if want == nil && got != nil || want != nil && (got == nil || got.Error() != want.Error()) {
			t.Errorf("validateIfName(%q) = %v, libcni's %v", s, got, want)
		}
	}
}

func TestVersionsAsLibrary(t *testing.T) {
	vs := []string{"", "0.1.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "1.1", "1", "2.0.0", "1.0.5", "1.2.3.4", "abc", "1.x", "1..0", "-1.0.0", "01.1.0"}
	for _, a := range vs {
		for _, b := range vs {
			got, err := versionAtLeast(a, b)
			want, wantErr := version.GreaterThanOrEqualTo(a, b)
			if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("versionAtLeast(%q, %q) = %v, %v; libcni %v, %v", a, b, got, err, want, wantErr)
			}
		}
	}
}
