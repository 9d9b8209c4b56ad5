package cluster

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// rbacKinds are the kinds ApplyDeployRBAC takes from deploy/: who the
// node agent is and what it may do.
var rbacKinds = []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// ApplyDeployRBAC applies deploy/'s ServiceAccounts, Roles, ClusterRoles and
// their bindings (and its Namespaces) exactly as `kubectl kustomize deploy/`
// renders them, so that a test's node agent has the permissions users
// deploy and no others. A namespace they name that deploy/ does not create
// (the mesh's, which OSM's install makes) is created first, as on a
// cluster where OSM is installed.
func (cp *ControlPlane) ApplyDeployRBAC(t testing.TB) {
	t.Helper()
	docs, err := cp.deployRBAC()
	if err != nil {
		t.Fatal(err)
	}
	cp.Apply(t, docs)
}

// deployRBAC returns what ApplyDeployRBAC applies: the Namespace documents
// of the namespaces deploy/'s RBAC objects live in, then those objects.
func (cp *ControlPlane) deployRBAC() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	rendered, err := cp.TryKubectl("kustomize", filepath.Join(root, "deploy"))
	if err != nil {
		return "", err
	}
	var namespaces, objects []string
	for _, doc := range bytes.Split([]byte(rendered), []byte("\n---\n")) {
		var o struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return "", fmt.Errorf("parsing what kubectl kustomize deploy/ rendered: %w\n%s", err, doc)
		}
		if !slices.Contains(rbacKinds, o.Kind) {
			continue
		}
		if ns := o.Metadata.Namespace; ns != "" && !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
		objects = append(objects, string(doc))
	}
	if len(objects) == 0 {
		return "", fmt.Errorf("kubectl kustomize deploy/ rendered no RBAC:\n%s", rendered)
	}
	var out []string
	for _, ns := range namespaces {
		out = append(out, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n")
	}
	return strings.Join(append(out, objects...), "\n---\n"), nil
}
