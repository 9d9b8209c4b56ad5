package deploy

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/install"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/settings"
)

func TestKustomizeObjects(t *testing.T) {
	objs := render(t)
	var got []string
	for _, o := range objs {
		got = append(got, o.Kind+"/"+o.Metadata.Name)
		want := "mesh-cni"
		switch {
		case clusterScoped[o.Kind]:
			want = ""
		case o.Kind == "Role" || o.Kind == "RoleBinding":
			if o.Metadata.Name == "mesh-cni" {
				// In the mesh's namespace: TestMeshRoleMatchesPluginSettings.
				continue
			}
		}
		if o.Metadata.Namespace != want {
			t.Errorf("%s/%s is in namespace %q, want %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace, want)
		}
	}
	sort.Strings(got)
	want := "ClusterRole/mesh-cni ClusterRole/mesh-cni-webhook ClusterRoleBinding/mesh-cni ClusterRoleBinding/mesh-cni-webhook ConfigMap/mesh-cni-config " +
		"DaemonSet/mesh-cni Deployment/mesh-cni-webhook MutatingWebhookConfiguration/osm-webhook-osm-mesh-cni Namespace/mesh-cni " +
		"PodDisruptionBudget/mesh-cni-webhook Role/mesh-cni Role/mesh-cni-webhook RoleBinding/mesh-cni RoleBinding/mesh-cni-webhook Service/mesh-cni-webhook " +
		"ServiceAccount/mesh-cni ServiceAccount/mesh-cni-webhook"
	if strings.Join(got, " ") != want {
		t.Errorf("objects %v, want %s", got, want)
	}
}

// TestClusterRoleIsMinimal lists every permission: adding one must be a
// deliberate change to this test. Nothing of the mesh's namespace is here
// (TestMeshRoleIsMinimal).
func TestClusterRoleIsMinimal(t *testing.T) {
	role := find(t, render(t), "ClusterRole", "mesh-cni")
	// delete and patch of pods: repair; get and patch of nodes: the taint
	// (rbac.yaml says why).
	want := "/events:create /events:patch /nodes:get /nodes:patch /pods:delete /pods:get /pods:list /pods:patch /pods:watch"
	if got := strings.Join(permissions(role), " "); got != want {
		t.Errorf("ClusterRole grants %s, want exactly %s", got, want)
	}
}

func TestDaemonSetSecurity(t *testing.T) {
	ds := find(t, render(t), "DaemonSet", "mesh-cni")
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork || pod.PriorityClassName != "system-node-critical" || pod.ServiceAccountName != "mesh-cni" {
		t.Errorf("hostNetwork %v, priorityClassName %q, serviceAccountName %q", pod.HostNetwork, pod.PriorityClassName, pod.ServiceAccountName)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Operator != "Exists" || pod.Tolerations[0].Key != "" || pod.Tolerations[0].Effect != "" {
		t.Errorf("tolerations %+v, want one that tolerates every taint", pod.Tolerations)
	}
	if ds.Spec.UpdateStrategy.Type != "RollingUpdate" || ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != float64(1) {
		t.Errorf("updateStrategy %+v, want RollingUpdate with maxUnavailable 1", ds.Spec.UpdateStrategy)
	}
	if pod.TerminationGracePeriodSeconds < 10 {
		t.Errorf("terminationGracePeriodSeconds %d leaves cleanup too little time", pod.TerminationGracePeriodSeconds)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("the container must set privileged: false and allowPrivilegeEscalation: false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root filesystem must be read-only")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Error("the container must run as root (uid 0), which owns the host's CNI dirs")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and none added", sc.Capabilities)
	}
	if c.Image != "ghcr.io/mesh-cni/mesh-cni:dev" || c.ImagePullPolicy != "IfNotPresent" || !slices.Equal(c.Command, []string{"/installer"}) {
		t.Errorf("image %q pull %q command %v", c.Image, c.ImagePullPolicy, c.Command)
	}
	rp := c.ReadinessProbe.HTTPGet
	if rp.Path != "/readyz" || rp.Host != "127.0.0.1" || rp.Port == 0 {
		t.Errorf("readiness probe %+v, want /readyz on 127.0.0.1", rp)
	}
	if env(c, "MESH_CNI_LISTEN_ADDRESS") != "127.0.0.1:"+itoa(rp.Port) {
		t.Errorf("the probe port %d is not where the installer listens (%s)", rp.Port, env(c, "MESH_CNI_LISTEN_ADDRESS"))
	}
}

func TestDaemonSetMountsOnlyCNIDirsAndItsRunDir(t *testing.T) {
	objs := render(t)
	pod := find(t, objs, "DaemonSet", "mesh-cni").Spec.Template.Spec
	var hostPaths []string
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, v := range pod.Volumes {
		switch {
		case v.HostPath != nil:
			hostPaths = append(hostPaths, v.HostPath.Path+"->"+mounts[v.Name])
		case v.ConfigMap != nil:
			find(t, objs, "ConfigMap", v.ConfigMap.Name)
		default:
			t.Errorf("volume %s is neither a hostPath nor a ConfigMap", v.Name)
		}
	}
	sort.Strings(hostPaths)
	want := "/etc/cni/net.d->/host/etc/cni/net.d /opt/cni/bin->/host/opt/cni/bin /var/run/mesh-cni->/var/run/mesh-cni"
	if strings.Join(hostPaths, " ") != want {
		t.Errorf("hostPath mounts %v, want %s", hostPaths, want)
	}
	c := pod.Containers[0]
	if env(c, "MESH_CNI_BIN_DIRS") != "/host/opt/cni/bin" || env(c, "MESH_CNI_CONF_DIR") != "/host/etc/cni/net.d" || env(c, "MESH_CNI_RUN_DIR") != "/var/run/mesh-cni" {
		t.Error("the installer's dirs do not match the mounts")
	}
	// The agent's socket is where the plugin dials by default, so an
	// entry written by hand without agentSocket works too.
	if sock := filepath.Join(env(c, "MESH_CNI_RUN_DIR"), install.AgentSocketName); sock != agent.DefaultSocket {
		t.Errorf("the agent listens on %s, the plugin's default is %s", sock, agent.DefaultSocket)
	}
}

// TestDaemonSetGivesTheNodeName: the installer refuses to start without
// it, and it must be the node the pod runs on.
func TestDaemonSetGivesTheNodeName(t *testing.T) {
	c := find(t, render(t), "DaemonSet", "mesh-cni").Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		if e.Name == "MESH_CNI_NODE_NAME" {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
				t.Errorf("MESH_CNI_NODE_NAME = %+v, want it from the field spec.nodeName", e)
			}
			return
		}
	}
	t.Error("the DaemonSet does not set MESH_CNI_NODE_NAME")
}

// TestConfigMapPluginSettingsAreAccepted parses plugin.json the way the
// installer does, so a typo in the shipped settings fails here, not on
// every node.
func TestConfigMapPluginSettingsAreAccepted(t *testing.T) {
	cm := find(t, render(t), "ConfigMap", "mesh-cni-config")
	s, err := entry.Parse([]byte(cm.Data["plugin.json"]))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.JSON(agent.DefaultSocket, settings.DefaultRunDir)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(e, &m); err != nil || len(m) != 11 || m["agentSocket"] != agent.DefaultSocket || m["runDir"] != settings.DefaultRunDir {
		t.Errorf("entry %s has %d keys, want type, agentSocket, runDir and all 8 settings", e, len(m))
	}
	if v := cm.Data["skip-cleanup"]; v != "false" {
		t.Errorf("skip-cleanup = %q, want \"false\" so that delete -k cleans nodes", v)
	}
}

func env(c container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
