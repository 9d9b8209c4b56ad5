//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// testLeastPrivilege: the installer's service account, as `kubectl apply
// -k deploy/` made it, may read the mesh's osm-config and osm-mesh-config
// by name, its node's pods, write events, repair pods (delete, patch)
// and untaint its node (get, patch nodes); nothing else. With only
// that, the agent's watches of both mesh objects went live during the
// scenarios before (the MeshConfig created after the meshed pods, changed
// and deleted) and none was refused.
func (s *suite) testLeastPrivilege(t *testing.T) {
	run := func(stdin []byte, args ...string) (string, error) { return s.kubectlStdin(string(stdin), args...) }
	n, err := cluster.CheckAgentPermissions(run, nsMesh, nsApps)
	if err != nil {
		t.Error(err)
	}
	t.Logf("%d answers of kubectl auth can-i --as=%s as deploy/ intends", n, cluster.AgentUser)

	logs := s.must(t, "logs", "-n", "mesh-cni", "daemonset/mesh-cni")
	live := map[string]bool{}
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Msg, Watch, Err string }
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if strings.Contains(l.Err, "forbidden") {
			t.Errorf("the agent was refused: %s", line)
		}
		if strings.HasPrefix(l.Msg, "watch live") {
			live[l.Watch] = true
		}
	}
	for _, w := range []string{"pods", "ConfigMap " + nsMesh + "/osm-config", "MeshConfig " + nsMesh + "/osm-mesh-config"} {
		if !live[w] {
			t.Errorf("the agent's watch of %s never went live (live: %v)", w, live)
		}
	}
}
