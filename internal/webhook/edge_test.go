package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
)

// blockingMesh answers only when the context ends, as an API server that
// does not answer.
type blockingMesh struct{}

func (blockingMesh) GetMeshConfig(ctx context.Context, _, _ string) (*object.MeshConfig, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (blockingMesh) GetConfigMap(ctx context.Context, _, _ string) (*object.ConfigMap, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestEdgeRecorder: only interceptionMode none gets a record; every
// failure to read or render the settings admits the pod unchanged with a
// warning naming the cause, so the plugin computes its rules at ADD.
func TestEdgeRecorder(t *testing.T) {
	mc := func(spec string) *meshtest.Fake { return &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2", spec)} }
	tests := []struct {
		name    string
		api     meshsettings.Reader
		pod     func(p *corev1.Pod)
		record  bool
		wantLog string // empty: no warning
	}{
		{"none", mc(`{"traffic":{"interceptionMode":"none"}}`), nil, true, ""},
		{"none with the DNS proxy", mc(`{"traffic":{"interceptionMode":"none"},"sidecar":{"localDNSProxy":{"enable":true}}}`), nil, true, ""},
		{"ebpf", mc(`{"traffic":{"interceptionMode":"ebpf"}}`), nil, false, ""},
		{"iptables", mc(`{"traffic":{"interceptionMode":"iptables"}}`), nil, false, ""},
		{"OSM's MeshConfig, no mode", mc(`{"traffic":{"outboundPortExclusionList":[6379]}}`), nil, false, ""},
		{"osm-config only", &meshtest.Fake{CM: meshtest.SeedConfigMap()}, nil, false, ""},
		{"no mesh settings", &meshtest.Fake{}, nil, false, ""},
		{"host network", &meshtest.Fake{MCErr: errors.New("the MeshConfig was read")}, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, false, ""},
		{"API down", &meshtest.Fake{MCErr: errors.New("dial tcp 10.96.0.1:443: connect: connection refused")}, nil, false, "reading the mesh settings: dial tcp"},
		{"API silent", blockingMesh{}, nil, false, "reading the mesh settings: context deadline exceeded"},
		{"ConfigMap forbidden", &meshtest.Fake{CMErr: errors.New("403 forbidden")}, nil, false, "403 forbidden"},
		{"bad MeshConfig port", mc(`{"traffic":{"interceptionMode":"none","outboundPortExclusionList":[70000]}}`), nil, false,
			`70000\" in MeshConfig osm-system/osm-mesh-config field spec.traffic.outboundPortExclusionList`},
		{"bad annotation", mc(`{"traffic":{"interceptionMode":"none"}}`), func(p *corev1.Pod) {
			p.Annotations = map[string]string{"openservicemesh.io/inbound-port-exclusion-list": "x"}
		}, false, `x\" in annotation openservicemesh.io/inbound-port-exclusion-list on pod bookstore/edge`},
		{"IPv6 range", mc(`{"traffic":{"interceptionMode":"none","outboundIPRangeExclusionList":["fd00::/8"]}}`), nil, false, "the record would not give the pod's IPv6 rules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := edgeRecorder(t, "")
			r.API = tc.api
			if _, ok := tc.api.(blockingMesh); ok {
				r.Timeout = time.Millisecond
			}
			var logs bytes.Buffer
			m := &Mutator{Log: slog.New(slog.NewTextHandler(&logs, nil)), WithoutInit: r.Record}
			p := webhooktest.OSMEdgePod("edge")
			if tc.pod != nil {
				tc.pod(p)
			}
			resp := m.Admit(createRequest(t, p))
			if !resp.Allowed || (resp.Patch != nil) != tc.record {
				t.Errorf("answer %+v, want allowed with a record %v", resp, tc.record)
			}
			if tc.record && !strings.Contains(logs.String(), "level=INFO msg=\""+doneRecord+"\" namespace=bookstore name=edge") {
				t.Errorf("log %q, want the record logged", logs.String())
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"admitting the pod unchanged\"")
			if warned != (tc.wantLog != "") || !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q, want a warning %v with %q", logs.String(), tc.wantLog != "", tc.wantLog)
			}
		})
	}
}
