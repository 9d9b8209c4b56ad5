package cni

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// recordedScript reads one of the recorded osm-init commands the rule
// engine's parser tests accept.
func recordedScript(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "rules", "testdata", "record", "accept", name+".osm-init"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRecordedCommand: a pod whose osm-init the webhook took out gets the
// recorded command's rules, whatever generation wrote it and whatever the
// configured profile or the MeshConfig's lists say; $POD_IP is the pod's
// address; a record OSM never wrote fails the pod, naming the annotation
// and the token; under osm-edge's eBPF interception a record installs
// nothing.
func TestRecordedCommand(t *testing.T) {
	// The MeshConfig's own exclusions must not show in the rules: the
	// record is the whole rule set.
	mesh := &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{"outboundPortExclusionList":[4242]}}`)}
	for _, tt := range []struct {
		name, record, profile string
		want                  rules.Profile
	}{
		{"OSM v0.x, profile auto", "v0-exclusions", "", rules.ProfileOSMv0},
		{"OSM v1.0, configured osm-v1", "v1.0-exclusions", "osm-v1", rules.ProfileOSMv10},
		{"OSM v1.2 with PodIP", "v1-podip-everything", "osm-v0", rules.ProfileOSMv1},
		{"osm-edge with its DNS proxy", "osm-edge-dns", "", rules.ProfileOSMv1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := recordedScript(t, tt.record)
			p := pod(func(p *object.Pod) { p.Metadata.Annotations = map[string]string{AnnotationOSMInitCommand: script} })
			pl, err := planPod(context.Background(), mesh, confWithPrev(t, tt.profile), p)
			if err != nil {
				t.Fatal(err)
			}
			if pl.choice.Profile != tt.want || pl.sets[0].Profile != tt.want || !strings.Contains(pl.source, AnnotationOSMInitCommand) {
				t.Errorf("plan: profile %s (sets %s), source %q; want %s from the annotation", pl.choice.Profile, pl.sets[0].Profile, pl.source, tt.want)
			}
			// What the Event shows is the record, with the pod's address
			// where osm-init's shell expanded $POD_IP.
			want := strings.TrimSuffix(strings.ReplaceAll(script, rules.PodIPPlaceholder, "10.231.0.4"), "\n")
			if got := rules.RenderOSMInit(pl.sets[0]); got != want {
				t.Errorf("IPv4 rules render as\n%s\nwant the record\n%s", got, want)
			}
		})
	}
	t.Run("ebpf interception wins", func(t *testing.T) {
		ebpf := &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{"interceptionMode":"ebpf"}}`)}
		p := pod(func(p *object.Pod) {
			p.Metadata.Annotations = map[string]string{AnnotationOSMInitCommand: recordedScript(t, "osm-edge-dns")}
		})
		pl, err := planPod(context.Background(), ebpf, confWithPrev(t, ""), p)
		if err != nil || pl.skip == "" || len(pl.sets) != 0 {
			t.Errorf("plan %+v, %v; want no rules under eBPF interception", pl, err)
		}
	})
	t.Run("forged", func(t *testing.T) {
		p := pod(func(p *object.Pod) {
			p.Metadata.Annotations = map[string]string{AnnotationOSMInitCommand: "iptables -t nat -N PROXY_INBOUND && iptables -t nat -A OUTPUT -p tcp -j MASQUERADE"}
		})
		_, err := planPod(context.Background(), mesh, confWithPrev(t, ""), p)
		if err == nil || !strings.Contains(err.Error(), "annotation "+AnnotationOSMInitCommand+" on pod test/web-1: osm-init command, iptables command 2") {
			t.Errorf("error %v, want one naming the annotation, the pod and the command", err)
		}
	})
}

// TestRenderedRecordIsWhatADDComputes: the record the webhook renders for
// a pod without osm-init (internal/meshsettings.Record of the settings'
// Decision) makes the plugin install exactly the rule sets it computes at
// ADD for the same pod without a record, in both families of a
// dual-stack pod, $POD_IP included.
func TestRenderedRecordIsWhatADDComputes(t *testing.T) {
	annotations := map[string]string{
		meshsettings.AnnotationOutboundPortExclusions:    "8080",
		meshsettings.AnnotationOutboundIPRangeExclusions: "192.168.0.0/16",
		meshsettings.AnnotationInboundPortExclusions:     "9091",
	}
	for _, tt := range []struct {
		name string
		mesh *meshtest.Fake
	}{
		{"osm-edge none mode, PodIP, DNS proxy", &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2",
			`{"traffic":{"interceptionMode":"none","outboundPortExclusionList":[6379],"outboundIPRangeExclusionList":["10.0.0.0/8"],"networkInterfaceExclusionList":["net1"]},"sidecar":{"localProxyMode":"PodIP","localDNSProxy":{"enable":true}}}`)}},
		{"OSM v1.0.x", &meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha1", `{"traffic":{"inboundPortExclusionList":[9090]}}`)}},
		{"osm-config", &meshtest.Fake{CM: meshtest.SeedConfigMap()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := confWithPrev(t, "")
			plain := pod(func(p *object.Pod) {
				p.Spec.Containers[1].Name = "sidecar"
				p.Metadata.Annotations = annotations
			})
			computed, err := planPod(context.Background(), tt.mesh, conf, plain)
			if err != nil {
				t.Fatal(err)
			}
			mesh, err := meshsettings.Gather(context.Background(), tt.mesh, conf.MeshNamespace, conf.MeshConfigName)
			if err != nil {
				t.Fatal(err)
			}
			d, err := meshsettings.Decide(mesh, "", plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			script, err := meshsettings.Record(d.Config)
			if err != nil {
				t.Fatal(err)
			}
			recorded := pod(func(p *object.Pod) {
				p.Spec.Containers[1].Name = "sidecar"
				p.Metadata.Annotations = map[string]string{AnnotationOSMInitCommand: script}
				maps.Copy(p.Metadata.Annotations, annotations)
			})
			installed, err := planPod(context.Background(), tt.mesh, conf, recorded)
			if err != nil {
				t.Fatal(err)
			}
			if len(computed.sets) != 2 || !reflect.DeepEqual(installed.sets, computed.sets) {
				t.Errorf("from the record:\n%+v\ncomputed at ADD (%d families):\n%+v", installed.sets, len(computed.sets), computed.sets)
			}
		})
	}
}
