package osmhost

import (
	"maps"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestMeshConfigImages(t *testing.T) {
	for _, c := range []struct {
		o                Options
		envoy, initImage string
	}{
		{Options{AppImage: "app:1"}, "app:1", "app:1"},
		{Options{AppImage: "app:1", InitImage: "init:1", Traffic: "    outboundPortExclusionList: [7070]"}, "app:1", "init:1"},
	} {
		var mc struct {
			Spec struct {
				Sidecar struct{ EnvoyImage, InitContainerImage string }
				Traffic map[string]any
			}
		}
		if err := yaml.Unmarshal([]byte(c.o.meshConfig()), &mc); err != nil {
			t.Fatalf("%+v: %v\n%s", c.o, err, c.o.meshConfig())
		}
		if mc.Spec.Sidecar.EnvoyImage != c.envoy || mc.Spec.Sidecar.InitContainerImage != c.initImage {
			t.Errorf("%+v: sidecar %+v, want envoy %s and init %s", c.o, mc.Spec.Sidecar, c.envoy, c.initImage)
		}
		if _, ok := mc.Spec.Traffic["outboundPortExclusionList"]; ok != (c.o.Traffic != "") {
			t.Errorf("%+v: traffic additions %v", c.o, mc.Spec.Traffic)
		}
	}
}

func TestMeshNamespaceLabels(t *testing.T) {
	var ns struct {
		Metadata struct{ Labels map[string]string }
	}
	if err := yaml.Unmarshal([]byte(MeshNamespace("web", Baseline, `x.example/off: "true"`)), &ns); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"openservicemesh.io/monitored-by": MeshName,
		"pod-security.kubernetes.io/enforce": "baseline", "x.example/off": "true"}
	if !maps.Equal(ns.Metadata.Labels, want) {
		t.Errorf("labels %v, want %v", ns.Metadata.Labels, want)
	}
}
