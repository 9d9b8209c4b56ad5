package cni

import (
	"strings"
	"testing"
)

// FuzzParseArgs: no CNI_ARGS make parseArgs panic; a refusal says it is
// CNI_ARGS; accepted ones give each pod key the value of its last pair.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"",
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
		"IgnoreUnknown=0;K8S_POD_NAME=x;SOMETHING_ELSE=y",
		"K8S_POD_NAME=a;K8S_POD_NAME=b",
		"K8S_POD_NAME=a=b",
		";K8S_POD_NAME=x",
		"IgnoreUnknown=Yes",
		"CommonArgs=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseArgs(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parsing CNI_ARGS: ") {
				t.Fatalf("refusal %q does not name CNI_ARGS", err)
			}
			return
		}
		want := podRef{Namespace: lastValue(s, "K8S_POD_NAMESPACE"), Name: lastValue(s, "K8S_POD_NAME"), UID: lastValue(s, "K8S_POD_UID")}
		if got != want {
			t.Fatalf("parseArgs(%q) = %+v, want %+v", s, got, want)
		}
		if got.isKubernetes() != (want.Namespace != "" && want.Name != "") || got.String() != want.Namespace+"/"+want.Name {
			t.Fatalf("pod %+v reads as %q, Kubernetes %v", got, got, got.isKubernetes())
		}
	})
}

// lastValue is the value of the last pair key=value of args, "" if none.
func lastValue(args, key string) string {
	v := ""
	for _, pair := range strings.Split(args, ";") {
		if k, val, ok := strings.Cut(pair, "="); ok && k == key {
			v = val
		}
	}
	return v
}
