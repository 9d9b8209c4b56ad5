package integration

import (
	"testing"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// testLeastPrivilege: the agent of these tests runs with deploy/'s RBAC
// (newEnv applies it as `kubectl kustomize deploy/` renders it), under
// which every other subtest's pods, MeshConfig and ConfigMap are read; it
// may read the mesh's two objects by name and its node's pods, write
// events, delete and patch pods (repair) and get and patch nodes (the
// taint), and nothing else.
func (w *world) testLeastPrivilege(t *testing.T) {
	n, err := w.cp.CheckAgentPermissions("osm-system", "test")
	if err != nil {
		t.Error(err)
	}
	t.Logf("%d answers of kubectl auth can-i --as=%s as deploy/ intends", n, cluster.AgentUser)
}
