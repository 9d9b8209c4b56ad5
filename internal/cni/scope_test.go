package cni

import (
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
)

func TestNamespaceSkip(t *testing.T) {
	conf := &NetConf{}
	if err := conf.defaults(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pod  podRef
		want string
	}{
		{podRef{}, "no Kubernetes pod"},
		{podRef{Namespace: "kube-system", Name: "coredns-1"}, "namespace kube-system is excluded"},
		{podRef{Namespace: "mesh-cni", Name: "mesh-cni-node-1"}, "namespace mesh-cni is excluded"},
		{podRef{Namespace: "test", Name: "web-1"}, ""},
	}
	for _, tt := range tests {
		got := namespaceSkip(conf, tt.pod)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("namespaceSkip(%+v) = %q, want %q", tt.pod, got, tt.want)
		}
	}
}

func TestPodSkip(t *testing.T) {
	conf := &NetConf{}
	if err := conf.defaults(); err != nil {
		t.Fatal(err)
	}
	// internal/scope's tests cover every reason; here, that the settings'
	// sidecar names reach it.
	if got := podSkip(conf, pod()); got != "" {
		t.Errorf("podSkip(an injected pod) = %q, want in scope", got)
	}
	conf.SidecarContainerNames = []string{"proxy"}
	if got := podSkip(conf, pod()); !strings.Contains(got, "no sidecar container") {
		t.Errorf("podSkip with sidecarContainerNames [proxy] = %q, want no sidecar container", got)
	}
}

// pod is test/web-1 as OSM injected it, changed by mutate.
func pod(mutate ...func(*object.Pod)) *object.Pod {
	return meshtest.Pod(mutate...)
}
