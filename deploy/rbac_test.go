package deploy

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// permissions lists what a role's rules grant, one "group/resource:verb"
// (or "group/resource/name:verb" under resourceNames) each, sorted.
func permissions(role object) []string {
	var got []string
	for _, r := range role.Rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, v := range r.Verbs {
						got = append(got, g+"/"+strings.TrimSuffix(res+"/"+n, "/")+":"+v)
					}
				}
			}
		}
	}
	sort.Strings(got)
	return got
}

// TestMeshRoleIsMinimal: in the mesh's namespace, the agent may read the
// MeshConfig and the osm-config ConfigMap by name, and nothing else.
func TestMeshRoleIsMinimal(t *testing.T) {
	role := find(t, render(t), "Role", "mesh-cni")
	want := "/configmaps/osm-config:get /configmaps/osm-config:list /configmaps/osm-config:watch " +
		"config.openservicemesh.io/meshconfigs/osm-mesh-config:get config.openservicemesh.io/meshconfigs/osm-mesh-config:list " +
		"config.openservicemesh.io/meshconfigs/osm-mesh-config:watch"
	if got := strings.Join(permissions(role), " "); got != want {
		t.Errorf("Role grants %s, want exactly %s", got, want)
	}
}

// TestMeshRoleMatchesPluginSettings: the Role and its binding are in the
// namespace plugin.json names, for the MeshConfig it names, and bind the
// DaemonSet's service account; the object that carries the mesh into them
// is not applied.
func TestMeshRoleMatchesPluginSettings(t *testing.T) {
	objs := render(t)
	checkMeshRBAC(t, objs, pluginSettings(t, objs))
	for _, o := range objs {
		if o.Metadata.Name == "mesh-cni-mesh" {
			t.Errorf("%s/%s is rendered: it only carries the mesh into the Role", o.Kind, o.Metadata.Name)
		}
	}
}

// TestMeshRoleOverlay builds the overlay mesh-role.yaml shows for another
// mesh namespace, with plugin.json replaced to match.
func TestMeshRoleOverlay(t *testing.T) {
	cm := find(t, render(t), "ConfigMap", "mesh-cni-config")
	plugin := strings.Replace(cm.Data["plugin.json"], `"osm-system"`, `"my-mesh"`, 1)
	overlay := t.TempDir()
	// kustomize takes a base by a relative path only.
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := filepath.Rel(overlay, here)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(overlay, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("plugin.json", plugin)
	write("kustomization.yaml", `resources: [`+deploy+`]
patches:
  - target: {kind: Role|RoleBinding, name: mesh-cni}
    patch: '[{"op": "replace", "path": "/metadata/namespace", "value": "my-mesh"}]'
configMapGenerator:
  - name: mesh-cni-config
    namespace: mesh-cni
    behavior: merge
    files: [plugin.json]
    options: {disableNameSuffixHash: true}
`)
	objs := renderDir(t, overlay)
	s := pluginSettings(t, objs)
	if s.MeshNamespace != "my-mesh" {
		t.Fatalf("the overlay's plugin.json has meshNamespace %q, want my-mesh", s.MeshNamespace)
	}
	checkMeshRBAC(t, objs, s)
}

// pluginSettings parses the rendered plugin.json as the installer does,
// with the plugin's defaults for what it leaves out.
func pluginSettings(t *testing.T, objs []object) settings.Settings {
	t.Helper()
	s, err := entry.Parse([]byte(find(t, objs, "ConfigMap", "mesh-cni-config").Data["plugin.json"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	return s.Settings
}

// checkMeshRBAC checks that the Role and RoleBinding grant the DaemonSet's
// service account the reads of s's mesh objects.
func checkMeshRBAC(t *testing.T, objs []object, s settings.Settings) {
	t.Helper()
	ns, mcName := s.MeshNamespace, s.MeshConfigName
	role, binding := find(t, objs, "Role", "mesh-cni"), find(t, objs, "RoleBinding", "mesh-cni")
	if role.Metadata.Namespace != ns || binding.Metadata.Namespace != ns {
		t.Errorf("Role in %q, RoleBinding in %q; plugin.json's meshNamespace is %q", role.Metadata.Namespace, binding.Metadata.Namespace, ns)
	}
	granted := strings.Join(permissions(role), " ")
	for _, p := range []string{"config.openservicemesh.io/meshconfigs/" + mcName + ":watch", "/configmaps/osm-config:watch"} {
		if !strings.Contains(granted, p) {
			t.Errorf("Role grants %s, not %s", granted, p)
		}
	}
	sa := find(t, objs, "DaemonSet", "mesh-cni").Spec.Template.Spec.ServiceAccountName
	if binding.RoleRef != (subject{Kind: "Role", Name: "mesh-cni"}) ||
		len(binding.Subjects) != 1 || binding.Subjects[0] != (subject{Kind: "ServiceAccount", Name: sa, Namespace: "mesh-cni"}) {
		t.Errorf("RoleBinding binds %+v to %+v, want Role mesh-cni to ServiceAccount mesh-cni/%s", binding.RoleRef, binding.Subjects, sa)
	}
}
