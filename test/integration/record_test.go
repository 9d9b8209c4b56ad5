package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/cni"
)

// testRecordedCommand: a pod whose osm-init mesh-cni's webhook took out
// carries the recorded command; the plugin installs that command's rules
// (OSM v1.2's, here with an IP exclusion and PodIP mode), with $POD_IP the
// pod's address from the bridge's result, and the Event names the record.
func (w *world) testRecordedCommand(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "internal", "rules", "testdata", "record", "accept", "v1-podip-everything.osm-init"))
	if err != nil {
		t.Fatal(err)
	}
	uid := w.pod(t, "test", "web-recorded", "envoy", map[string]string{cni.AnnotationOSMInitCommand: string(script)})
	s := w.newSandbox(t, "test", "web-recorded", uid, "1.0.0", "")
	s.mustAdd(t)
	if chains := s.meshChains(t); len(chains) != 4 || !strings.HasPrefix(chains[0], "OSM_PROXY_") {
		t.Errorf("chains %v, want the recorded command's four OSM_PROXY_ chains", chains)
	}
	nat := s.NS.Run(t, "iptables-save", "-t", "nat")
	if want := "--to-destination " + s.IP.String(); !strings.Contains(nat, want) {
		t.Errorf("no PodIP DNAT to the pod's address (%s):\n%s", want, nat)
	}
	ev := w.event(t, "web-recorded", "RedirectionConfigured")
	recorded := strings.ReplaceAll(strings.TrimSuffix(string(script), "\n"), "$POD_IP", s.IP.String())
	if !strings.Contains(ev.Message, "annotation "+cni.AnnotationOSMInitCommand) || !strings.HasSuffix(ev.Message, ":\n"+recorded) {
		t.Errorf("event does not carry the record:\n%s", ev.Message)
	}
}
