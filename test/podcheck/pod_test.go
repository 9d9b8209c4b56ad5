package podcheck

import (
	"encoding/json"
	"slices"
	"testing"
)

// injected is a pod as OSM's injector stores it, cut to what Pod reads.
const injected = `{"metadata":{"name":"web","labels":{"osm-proxy-uuid":"u"}},
"spec":{"initContainers":[{"name":"osm-init","securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}],
"containers":[{"name":"app"},{"name":"envoy","securityContext":{"privileged":false}}]}}`

func TestPodReadsAdmittedShape(t *testing.T) {
	var p Pod
	if err := json.Unmarshal([]byte(injected), &p); err != nil {
		t.Fatal(err)
	}
	if got, want := p.ContainerList(), "init: osm-init; app, envoy"; got != want {
		t.Errorf("ContainerList() = %q, want %q", got, want)
	}
	if !p.HasInit("osm-init") || p.HasInit("envoy") || !p.HasContainer("envoy") || p.HasContainer("osm-init") {
		t.Errorf("HasInit/HasContainer mix up init and other containers: %+v", p.Spec)
	}
	if got := p.Privileged(); !slices.Equal(got, []string{"osm-init"}) {
		t.Errorf("Privileged() = %v, want [osm-init]", got)
	}
	p.Spec.InitContainers = nil
	if got, want := p.ContainerList(), "app, envoy"; got != want || len(p.Privileged()) != 0 {
		t.Errorf("without init containers: ContainerList() = %q (want %q), Privileged() = %v", got, want, p.Privileged())
	}
}
