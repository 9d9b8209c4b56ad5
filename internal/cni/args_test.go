package cni

import (
	"fmt"
	"testing"
)

// TestParseArgsCases: CNI_ARGS as types.LoadArgs reads them, with unknown
// keys ignored unless the runtime passes IgnoreUnknown=0, and every
// malformed pair an error naming it.
func TestParseArgsCases(t *testing.T) {
	for _, tt := range []struct {
		args    string
		want    podRef
		wantErr string
	}{
		{"", podRef{}, ""},
		{"IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1", podRef{"test", "web-1", "u-1"}, ""},
		{"K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;SOMETHING_ELSE=x", podRef{"test", "web-1", ""}, ""},
		{"K8S_POD_NAME=a;K8S_POD_NAME=b", podRef{Name: "b"}, ""},
		{"K8S_POD_NAME=", podRef{}, ""},
		{"IgnoreUnknown=TRUE;K8S_POD_NAME=x", podRef{Name: "x"}, ""},
		{"IgnoreUnknown=false;K8S_POD_NAME=x", podRef{Name: "x"}, ""},
		{"IgnoreUnknown=0;K8S_POD_NAME=x;SOMETHING_ELSE=y", podRef{}, `parsing CNI_ARGS: ARGS: unknown args ["SOMETHING_ELSE=y"]`},
		{"IgnoreUnknown=Yes;K8S_POD_NAME=x", podRef{}, `parsing CNI_ARGS: ARGS: error parsing value of pair "IgnoreUnknown=Yes": boolean unmarshal error: invalid input yes`},
		{"K8S_POD_NAME", podRef{}, `parsing CNI_ARGS: ARGS: invalid pair "K8S_POD_NAME"`},
		{"K8S_POD_NAME=a=b", podRef{}, `parsing CNI_ARGS: ARGS: invalid pair "K8S_POD_NAME=a=b"`},
		{"K8S_POD_NAME=x;", podRef{}, `parsing CNI_ARGS: ARGS: invalid pair ""`},
		{";K8S_POD_NAME=x", podRef{}, `parsing CNI_ARGS: ARGS: invalid pair ""`},
		{"=x", podRef{}, ""},
		{"k8s_pod_name=x", podRef{}, ""},
	} {
		got, err := parseArgs(tt.args)
		if got != tt.want || tt.wantErr == "" && err != nil || tt.wantErr != "" && fmt.Sprint(err) != tt.wantErr {
			t.Errorf("parseArgs(%q) = %+v, %v; want %+v, %q", tt.args, got, err, tt.want, tt.wantErr)
		}
	}
}
