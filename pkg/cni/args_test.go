package cni

import (
	"fmt"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
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
