package scope

import (
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
)

func TestNamespace(t *testing.T) {
	excluded := []string{"kube-system", "mesh-cni"}
	for ns, want := range map[string]string{"kube-system": "namespace kube-system is excluded", "mesh-cni": "namespace mesh-cni is excluded", "test": ""} {
		if got := Namespace(excluded, ns); !strings.HasPrefix(got, want) || (want == "") != (got == "") {
			t.Errorf("Namespace(%s) = %q, want %q", ns, got, want)
		}
	}
}

// pod is test/web-1 as OSM injected it, changed by mutate.
func pod(mutate ...func(*object.Pod)) *object.Pod {
	return meshtest.Pod(mutate...)
}

func TestPod(t *testing.T) {
	sidecars := []string{"envoy", "sidecar"}
	injection := func(v string) *object.Pod {
		return pod(func(p *object.Pod) { p.Metadata.Annotations = map[string]string{AnnotationSidecarInjection: v} })
	}
	tests := []struct {
		name string
		pod  *object.Pod
		want string
	}{
		{"envoy sidecar", pod(), ""},
		{"pipy sidecar", pod(func(p *object.Pod) { p.Spec.Containers[1].Name = "sidecar" }), ""},
		{"enabled annotation", injection("enabled"), ""},
		{"host network", pod(func(p *object.Pod) { p.Spec.HostNetwork = true }), "host network"},
		{"injection disabled", injection("disabled"), "sidecar-injection is disabled"},
		// OSM's injector lower-cases the value and takes no and false too.
		{"injection false", injection("false"), "sidecar-injection is false"},
		{"injection No", injection("No"), "sidecar-injection is No"},
		{"injection Disabled", injection("Disabled"), "sidecar-injection is Disabled"},
		{"injection yes", injection("yes"), ""},
		// An Envoy that OSM did not inject: OSM's Contour ingress
		// (containers shutdown-manager and envoy), a gateway.
		{"envoy without the injector's label", pod(func(p *object.Pod) {
			p.Metadata.Labels = map[string]string{"app": "osm-contour-envoy"}
			p.Spec.Containers = []object.Container{{Name: "shutdown-manager"}, {Name: "envoy"}}
		}), "no osm-proxy-uuid label"},
		{"osm-init", pod(func(p *object.Pod) { p.Spec.InitContainers = []object.Container{{Name: "osm-init"}} }), "osm-init init container"},
		{"no sidecar", pod(func(p *object.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }), "no sidecar container"},
		{"sidecar only as init container", pod(func(p *object.Pod) {
			p.Spec.Containers = p.Spec.Containers[:1]
			p.Spec.InitContainers = []object.Container{{Name: "envoy"}}
		}), "no sidecar container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Pod(sidecars, tt.pod)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Pod = %q, want %q", got, tt.want)
			}
		})
	}
}
