package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// AgentUser is the node agent's user as RBAC sees its token: deploy/'s
// ServiceAccount mesh-cni/mesh-cni.
const AgentUser = "system:serviceaccount:mesh-cni:mesh-cni"

// agentPermission is one question to `kubectl auth can-i` about the agent
// and the answer deploy/'s RBAC must give.
type agentPermission struct {
	verb, resource string
	// namespace "" asks for every namespace (--all-namespaces).
	namespace string
	allowed   bool
}

// agentPermissions are what the agent may and may not do with the mesh in
// meshNamespace, where there is also otherNamespace: its two objects by
// name, its node's pods and events, the repair of pods and the removal of
// its node's taint; not another ConfigMap or MeshConfig of
// the mesh's namespace, nor the mesh's objects elsewhere, nor secrets.
func agentPermissions(meshNamespace, otherNamespace string) []agentPermission {
	var ps []agentPermission
	for _, v := range []string{"get", "list", "watch"} {
		ps = append(ps,
			agentPermission{v, "configmaps/osm-config", meshNamespace, true},
			agentPermission{v, "meshconfigs.config.openservicemesh.io/osm-mesh-config", meshNamespace, true},
			agentPermission{v, "pods", "", true},
			agentPermission{v, "configmaps", meshNamespace, false},
			agentPermission{v, "configmaps/other", meshNamespace, false},
			agentPermission{v, "configmaps/osm-config", otherNamespace, false},
			agentPermission{v, "configmaps", "", false},
			agentPermission{v, "meshconfigs.config.openservicemesh.io", meshNamespace, false},
			agentPermission{v, "meshconfigs.config.openservicemesh.io/osm-mesh-config", otherNamespace, false},
			agentPermission{v, "secrets", meshNamespace, false},
			agentPermission{v, "events", otherNamespace, false},
		)
	}
	return append(ps,
		agentPermission{"create", "events", otherNamespace, true},
		agentPermission{"patch", "events", otherNamespace, true},
		agentPermission{"update", "configmaps/osm-config", meshNamespace, false},
		agentPermission{"patch", "meshconfigs.config.openservicemesh.io/osm-mesh-config", meshNamespace, false},
		agentPermission{"delete", "events", otherNamespace, false},
		agentPermission{"create", "pods", otherNamespace, false},
		agentPermission{"update", "pods", otherNamespace, false},
		agentPermission{"create", "pods/exec", otherNamespace, false},
		// Repair: delete (with preconditions) or label pods whose
		// validation failed; the taint: its own node's.
		agentPermission{"delete", "pods", otherNamespace, true},
		agentPermission{"patch", "pods", otherNamespace, true},
		agentPermission{"get", "nodes", "", true},
		agentPermission{"patch", "nodes", "", true},
		agentPermission{"delete", "nodes", "", false},
		agentPermission{"update", "nodes", "", false},
	)
}

// CheckAgentPermissions asks `kubectl auth can-i --as=AgentUser`, through
// kubectl with a cluster admin's credentials, every question of
// agentPermissions and returns one error naming each answer that differs
// from deploy/'s intent, and the number of questions asked.
func CheckAgentPermissions(kubectl KubectlFunc, meshNamespace, otherNamespace string) (int, error) {
	var errs []error
	ps := agentPermissions(meshNamespace, otherNamespace)
	for _, p := range ps {
		args := []string{"auth", "can-i", p.verb, p.resource, "--as=" + AgentUser}
		if p.namespace == "" {
			args = append(args, "--all-namespaces")
		} else {
			args = append(args, "-n", p.namespace)
		}
		// can-i prints yes or no; "no" exits 1.
		out, err := kubectl(nil, args...)
		answer := strings.TrimSpace(out)
		if answer != "yes" && answer != "no" {
			errs = append(errs, fmt.Errorf("kubectl %s: %q, %v", strings.Join(args, " "), answer, err))
			continue
		}
		if (answer == "yes") != p.allowed {
			errs = append(errs, fmt.Errorf("kubectl %s: %s, want %s", strings.Join(args, " "), answer, map[bool]string{true: "yes", false: "no"}[p.allowed]))
		}
	}
	return len(ps), errors.Join(errs...)
}

// CheckAgentPermissions is the package function for this control plane.
func (cp *ControlPlane) CheckAgentPermissions(meshNamespace, otherNamespace string) (int, error) {
	return CheckAgentPermissions(cp.KubectlStdin, meshNamespace, otherNamespace)
}
