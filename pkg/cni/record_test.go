package cni

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
	"github.com/mesh-cni/mesh-cni/pkg/rules"
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
// configured profile, without reading the mesh settings; $POD_IP is the
// pod's address; a record OSM never wrote fails the pod, naming the
// annotation and the token.
func TestRecordedCommand(t *testing.T) {
	// The settings must not be read: a record is the whole rule set.
	mesh := &fakeMesh{mcErr: errors.New("the MeshConfig was read")}
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
			if pl.choice.profile != tt.want || pl.sets[0].Profile != tt.want || !strings.Contains(pl.source, AnnotationOSMInitCommand) {
				t.Errorf("plan: profile %s (sets %s), source %q; want %s from the annotation", pl.choice.profile, pl.sets[0].Profile, pl.source, tt.want)
			}
			// What the Event shows is the record, with the pod's address
			// where osm-init's shell expanded $POD_IP.
			want := strings.TrimSuffix(strings.ReplaceAll(script, rules.PodIPPlaceholder, "10.231.0.4"), "\n")
			if got := rules.RenderOSMInit(pl.sets[0]); got != want {
				t.Errorf("IPv4 rules render as\n%s\nwant the record\n%s", got, want)
			}
		})
	}
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
