package chart

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/mesh-cni/mesh-cni/internal/install/config"
	"github.com/mesh-cni/mesh-cni/internal/install/entry"
	"github.com/mesh-cni/mesh-cni/internal/webhook/serve"
)

// TestFullValues: with every value set, in another namespace, the objects
// still agree with each other the way the programs read them: the
// installer's flags from the DaemonSet's env, the plugin's settings from
// plugin.json, the webhook's flags from its Deployment's env.
func TestFullValues(t *testing.T) {
	const release = "cni-system"
	objs := decodeAll(t, template(t, release, "-f", fullValues))

	s, err := entry.Parse([]byte(find(t, objs, "ConfigMap", "mesh-cni-config").str("data", "plugin.json")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join([]string{s.MeshNamespace, s.MeshConfigName, s.Profile, strings.Join(s.ExcludeNamespaces, ","), strings.Join(s.SidecarContainerNames, ","), s.LogLevel, s.APITimeout, s.RulesWriter}, " "); got !=
		"edge-system edge-mesh-config osm-v1 kube-system,monitoring,cni-system envoy debug 3s iptables-restore" {
		t.Errorf("plugin settings %s", got)
	}

	var ds appsv1.DaemonSet
	find(t, objs, "DaemonSet", "mesh-cni").into(t, &ds)
	checkInstaller(t, ds)
	pod := ds.Spec.Template.Spec
	if pod.PriorityClassName != "mesh-critical" || pod.NodeSelector["mesh-cni.io/node"] != "true" || len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "node-role.kubernetes.io/control-plane" ||
		pod.Containers[0].Resources.Limits.Memory().String() != "256Mi" {
		t.Errorf("DaemonSet scheduling and resources: %+v %+v %+v", pod.PriorityClassName, pod.NodeSelector, pod.Tolerations)
	}

	// The Role is in the mesh's namespace, for its MeshConfig, bound to the
	// release's service account.
	var role rbacv1.Role
	find(t, objs, "Role", "mesh-cni").into(t, &role)
	var rb rbacv1.RoleBinding
	find(t, objs, "RoleBinding", "mesh-cni").into(t, &rb)
	if role.Namespace != s.MeshNamespace || rb.Namespace != s.MeshNamespace || !slices.Equal(role.Rules[0].ResourceNames, []string{s.MeshConfigName}) ||
		rb.Subjects[0].Namespace != release || rb.Subjects[0].Name != pod.ServiceAccountName {
		t.Errorf("Role %s/%v, RoleBinding %s to %+v", role.Namespace, role.Rules[0].ResourceNames, rb.Namespace, rb.Subjects)
	}

	var d appsv1.Deployment
	find(t, objs, "Deployment", "mesh-cni-webhook").into(t, &d)
	wp := d.Spec.Template.Spec
	if *d.Spec.Replicas != 3 || wp.PriorityClassName != "mesh-webhook" || wp.NodeSelector["mesh-cni.io/webhook"] != "true" || len(wp.Tolerations) != 1 ||
		wp.Containers[0].Image != "registry.example/mesh/mesh-cni:v9.9.9" || wp.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("webhook Deployment: replicas %d, %+v", *d.Spec.Replicas, wp)
	}
	cfg := webhookConfig(t, wp.Containers[0], release)
	if cfg.MeshNamespace != s.MeshNamespace || cfg.MeshConfigName != s.MeshConfigName {
		t.Errorf("the webhook reads %s/%s, the plugin %s/%s", cfg.MeshNamespace, cfg.MeshConfigName, s.MeshNamespace, s.MeshConfigName)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	find(t, objs, "MutatingWebhookConfiguration", cfg.ConfigurationName).into(t, &mwc)
	w := mwc.Webhooks[0]
	if !(mwc.Name > "osm-webhook-edge") || w.Name != cfg.WebhookName || w.NamespaceSelector.MatchLabels["openservicemesh.io/monitored-by"] != "edge" ||
		w.ClientConfig.Service.Namespace != release || w.ClientConfig.Service.Name != cfg.ServiceName {
		t.Errorf("configuration %s: %+v", mwc.Name, w)
	}
	var cr rbacv1.ClusterRole
	find(t, objs, "ClusterRole", "mesh-cni-webhook").into(t, &cr)
	if !slices.Equal(cr.Rules[0].ResourceNames, []string{cfg.ConfigurationName}) || !slices.Equal(cr.Rules[1].ResourceNames, []string{cfg.MeshConfigName}) {
		t.Errorf("the webhook's ClusterRole names %v and %v", cr.Rules[0].ResourceNames, cr.Rules[1].ResourceNames)
	}
	find(t, objs, "PodDisruptionBudget", "mesh-cni-webhook")
}

// checkInstaller parses the installer's env as the installer does and
// checks that each host dir it writes is a hostPath mounted there.
func checkInstaller(t *testing.T, ds appsv1.DaemonSet) {
	t.Helper()
	c := ds.Spec.Template.Spec.Containers[0]
	cfg, err := config.Parse(nil, envOf(c, "node-1"), nil)
	if err != nil {
		t.Fatalf("the installer refuses the DaemonSet's env: %v", err)
	}
	if cfg.ConfName != "10-containerd-net.conflist" || cfg.SkipCleanupFile != "/etc/mesh-cni/skip-cleanup" {
		t.Errorf("installer config %+v", cfg)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	hostPaths := map[string]string{}
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	var got []string
	for _, dir := range append(cfg.BinDirs, cfg.ConfDir) {
		got = append(got, hostPaths[mounts[dir]])
	}
	if want := "/home/kubernetes/bin /opt/cni/bin /etc/cni/conf.d"; strings.Join(got, " ") != want {
		t.Errorf("the installer's dirs %v %s are the host's %v, want %s", cfg.BinDirs, cfg.ConfDir, got, want)
	}
	if hostPaths[mounts[filepath.Clean(cfg.RunDir)]] != cfg.RunDir {
		t.Errorf("run dir %s is not the host's own", cfg.RunDir)
	}
}

// webhookConfig parses the webhook container's env as the webhook does.
func webhookConfig(t *testing.T, c corev1.Container, namespace string) serve.Config {
	t.Helper()
	cfg, err := serve.Parse(nil, envOf(c, namespace), nil)
	if err != nil {
		t.Fatalf("the webhook refuses its Deployment's env: %v", err)
	}
	return cfg
}

// envOf is the container's environment, with fieldRef values filled in
// (the node's name or the pod's namespace: the one the container needs).
func envOf(c corev1.Container, fieldValue string) func(string) string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = fieldValue
		}
	}
	return func(k string) string { return env[k] }
}

// TestWebhookOff: webhook.enabled=false renders the installer's objects
// only.
func TestWebhookOff(t *testing.T) {
	got := strings.Join(ids(decodeAll(t, template(t, ns, "--set", "webhook.enabled=false"))), " ")
	if want := "ServiceAccount/mesh-cni ConfigMap/mesh-cni-config ClusterRole/mesh-cni ClusterRoleBinding/mesh-cni Role/mesh-cni RoleBinding/mesh-cni DaemonSet/mesh-cni"; got != want {
		t.Errorf("webhook off renders %s, want %s", got, want)
	}
}

// TestOneWebhookReplicaHasNoBudget: a budget of one for one replica would
// block every drain.
func TestOneWebhookReplicaHasNoBudget(t *testing.T) {
	objs := decodeAll(t, template(t, ns, "--set", "webhook.replicas=1"))
	find(t, objs, "Deployment", "mesh-cni-webhook")
	if slices.Contains(ids(objs), "PodDisruptionBudget/mesh-cni-webhook") {
		t.Error("a PodDisruptionBudget is rendered for one webhook replica")
	}
}

// TestChecksumRollsOnPluginSettingsOnly: a plugin setting changes the
// DaemonSet's pod template (the installers read plugin.json at start);
// skipCleanup changes only the ConfigMap, so setting it before an upgrade
// rolls nothing.
func TestChecksumRollsOnPluginSettingsOnly(t *testing.T) {
	render := func(set ...string) (checksum, skip string) {
		objs := decodeAll(t, template(t, ns, set...))
		return find(t, objs, "DaemonSet", "mesh-cni").str("spec", "template", "metadata", "annotations", "checksum/plugin-config"),
			find(t, objs, "ConfigMap", "mesh-cni-config").str("data", "skip-cleanup")
	}
	base, skip := render()
	if base == "" || skip != "false" {
		t.Fatalf("checksum %q, skip-cleanup %q", base, skip)
	}
	if sum, skip := render("--set", "skipCleanup=true"); sum != base || skip != "true" {
		t.Errorf("skipCleanup=true: checksum %s (defaults %s), skip-cleanup %q", sum, base, skip)
	}
	for _, set := range []string{"plugin.logLevel=debug", "plugin.excludeNamespaces={kube-system,monitoring}", "mesh.configName=other"} {
		if sum, _ := render("--set", set); sum == base {
			t.Errorf("%s leaves the checksum as it is", set)
		}
	}
}
