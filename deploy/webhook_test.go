package deploy

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/webhook/serve"
)

var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "MutatingWebhookConfiguration": true}

// decode reads the rendered kind/name whole into out, refusing fields
// the type does not have (a typo in deploy/).
func decode(t *testing.T, objs []object, kind, name string, out any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(find(t, objs, kind, name).Raw, out); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
}

// webhookDefaults are the webhook's own defaults: deploy/ must name the
// same Secret, configuration, webhook, Service and port.
func webhookDefaults(t *testing.T) serve.Config {
	t.Helper()
	cfg, err := serve.Parse(nil, func(k string) string {
		return map[string]string{"MESH_CNI_WEBHOOK_NAMESPACE": "mesh-cni", "MESH_CNI_WEBHOOK_VALIDATOR_IMAGE": "ghcr.io/mesh-cni/mesh-cni:dev"}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestWebhookDeploymentSecurity(t *testing.T) {
	objs := render(t)
	var d appsv1.Deployment
	decode(t, objs, "Deployment", "mesh-cni-webhook", &d)
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || pod.ServiceAccountName != "mesh-cni-webhook" || pod.HostNetwork {
		t.Errorf("replicas %v, serviceAccountName %q, hostNetwork %v", d.Spec.Replicas, pod.ServiceAccountName, pod.HostNetwork)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v, want runAsNonRoot with a fixed non-root uid and seccomp RuntimeDefault", psc)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("%d containers, %d init containers; want one container", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/mesh-cni/mesh-cni:dev" || c.ImagePullPolicy != corev1.PullIfNotPresent || !slices.Equal(c.Command, []string{"/webhook"}) {
		t.Errorf("image %q pull %q command %v", c.Image, c.ImagePullPolicy, c.Command)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("the container has no securityContext")
	case sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("the container must set privileged: false and allowPrivilegeEscalation: false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the root filesystem must be read-only")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != *psc.RunAsUser:
		t.Error("the container must run as the pod's fixed non-root uid")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities %+v, want drop [ALL] and none added", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("the container must use seccomp RuntimeDefault")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	cfg := webhookDefaults(t)
	port := cfg.ListenAddress[strings.LastIndex(cfg.ListenAddress, ":")+1:]
	if len(c.Ports) != 1 || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port || c.Ports[0].Name != "https" {
		t.Errorf("ports %+v, want https on the webhook's default %s", c.Ports, port)
	}
	for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Scheme != corev1.URISchemeHTTPS || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != port {
			t.Errorf("probe %+v, want HTTPS %s on %s", probe, path, port)
		}
	}
	var ns, validatorImage string
	for _, e := range c.Env {
		if e.Name == "MESH_CNI_WEBHOOK_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			ns = e.ValueFrom.FieldRef.FieldPath
		}
		if e.Name == "MESH_CNI_WEBHOOK_VALIDATOR_IMAGE" {
			validatorImage = e.Value
		}
	}
	if validatorImage != c.Image {
		t.Errorf("MESH_CNI_WEBHOOK_VALIDATOR_IMAGE %q, want the webhook's own image %q", validatorImage, c.Image)
	}
	if ns != "metadata.namespace" {
		t.Error("MESH_CNI_WEBHOOK_NAMESPACE must come from metadata.namespace")
	}

	var svc corev1.Service
	decode(t, objs, "Service", cfg.ServiceName, &svc)
	var pdb policyv1.PodDisruptionBudget
	decode(t, objs, "PodDisruptionBudget", "mesh-cni-webhook", &pdb)
	labels := d.Spec.Template.Labels
	if !subset(svc.Spec.Selector, labels) || !subset(d.Spec.Selector.MatchLabels, labels) || !subset(pdb.Spec.Selector.MatchLabels, labels) || labels["app"] != "mesh-cni-webhook" {
		t.Errorf("selectors: Service %v, Deployment %v, PDB %v; pod labels %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels, labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("https") {
		t.Errorf("Service ports %+v, want one to the container's https port", svc.Spec.Ports)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget %+v, want minAvailable 1", pdb.Spec)
	}
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestWebhookRBACIsMinimal lists every permission of the webhook's
// account: adding one must be a deliberate change to this test.
func TestWebhookRBACIsMinimal(t *testing.T) {
	objs := render(t)
	cfg := webhookDefaults(t)
	var role rbacv1.Role
	decode(t, objs, "Role", "mesh-cni-webhook", &role)
	var cr rbacv1.ClusterRole
	decode(t, objs, "ClusterRole", "mesh-cni-webhook", &cr)
	// The Role's grants, then the ClusterRole's, each sorted.
	want := "/secrets:create[] /secrets:get[" + cfg.SecretName + "] /configmaps:get[" + meshsettings.OSMConfigMapName + "] admissionregistration.k8s.io/mutatingwebhookconfigurations:get[" + cfg.ConfigurationName +
		"] admissionregistration.k8s.io/mutatingwebhookconfigurations:patch[" + cfg.ConfigurationName + "] config.openservicemesh.io/meshconfigs:get[" + cfg.MeshConfigName + "]"
	if got := strings.Join(append(grants(role.Rules), grants(cr.Rules)...), " "); got != want {
		t.Errorf("the webhook may %s, want exactly %s", got, want)
	}
	var rb rbacv1.RoleBinding
	decode(t, objs, "RoleBinding", "mesh-cni-webhook", &rb)
	var crb rbacv1.ClusterRoleBinding
	decode(t, objs, "ClusterRoleBinding", "mesh-cni-webhook", &crb)
	for _, b := range []struct {
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
	}{{rb.RoleRef, rb.Subjects}, {crb.RoleRef, crb.Subjects}} {
		if b.ref.Name != "mesh-cni-webhook" || len(b.subjects) != 1 || b.subjects[0].Kind != "ServiceAccount" || b.subjects[0].Name != "mesh-cni-webhook" || b.subjects[0].Namespace != "mesh-cni" {
			t.Errorf("binding %+v to %+v, want the webhook's ServiceAccount only", b.ref, b.subjects)
		}
	}
	find(t, objs, "ServiceAccount", "mesh-cni-webhook")
}

func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+":"+v+"["+strings.Join(r.ResourceNames, ",")+"]")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestWebhookConfiguration(t *testing.T) {
	objs := render(t)
	cfg := webhookDefaults(t)
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	decode(t, objs, "MutatingWebhookConfiguration", cfg.ConfigurationName, &mwc)
	// Configurations are called in name order: OSM's osm-webhook-<mesh> first.
	if !(mwc.Name > "osm-webhook-osm") {
		t.Errorf("%s does not sort after OSM's osm-webhook-osm", mwc.Name)
	}
	// OSM's injector finds its own configuration by these labels.
	for k, v := range mwc.Labels {
		if k == "app" || k == "app.kubernetes.io/instance" || k == "app.kubernetes.io/version" || strings.HasPrefix(k, "openservicemesh.io/") || v == "openservicemesh.io" {
			t.Errorf("the configuration carries OSM's label %s=%s", k, v)
		}
	}
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	if w.Name != cfg.WebhookName || w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
		w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone || w.TimeoutSeconds == nil || *w.TimeoutSeconds != 5 ||
		w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore || !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}) {
		t.Errorf("webhook %+v", w)
	}
	if w.NamespaceSelector == nil || len(w.NamespaceSelector.MatchLabels) != 1 || w.NamespaceSelector.MatchLabels["openservicemesh.io/monitored-by"] != "osm" || len(w.NamespaceSelector.MatchExpressions) != 0 {
		t.Errorf("namespaceSelector %+v, want openservicemesh.io/monitored-by: osm", w.NamespaceSelector)
	}
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) ||
		!slices.Equal(w.Rules[0].Resources, []string{"pods"}) || !slices.Equal(w.Rules[0].APIGroups, []string{""}) || !slices.Equal(w.Rules[0].APIVersions, []string{"v1"}) {
		t.Errorf("rules %+v, want CREATE of v1 pods only", w.Rules)
	}
	var svc corev1.Service
	decode(t, objs, "Service", cfg.ServiceName, &svc)
	s := w.ClientConfig.Service
	if s == nil || w.ClientConfig.URL != nil || s.Name != svc.Name || s.Namespace != svc.Namespace || s.Namespace != cfg.Namespace || s.Path == nil || *s.Path != "/mutate-pods" ||
		s.Port == nil || *s.Port != svc.Spec.Ports[0].Port || len(w.ClientConfig.CABundle) != 0 {
		t.Errorf("clientConfig %+v, want the Service's /mutate-pods and no caBundle (the webhook writes it)", w.ClientConfig)
	}
}

// TestDeleteRemovesTheConfigurationFirst: `kubectl delete -k` deletes in
// the rendered order, so the configuration must come before its server
// (else pods would be sent, for a moment, to a webhook that is gone); the
// Namespace must still come before everything in it for apply.
func TestDeleteRemovesTheConfigurationFirst(t *testing.T) {
	objs := render(t)
	index := map[string]int{}
	for i, o := range objs {
		index[o.Kind+"/"+o.Metadata.Name] = i
	}
	cfg := index["MutatingWebhookConfiguration/osm-webhook-osm-mesh-cni"]
	for _, server := range []string{"Deployment/mesh-cni-webhook", "Service/mesh-cni-webhook", "Namespace/mesh-cni", "Role/mesh-cni-webhook", "ClusterRole/mesh-cni-webhook"} {
		if i, ok := index[server]; !ok || i < cfg {
			t.Errorf("%s comes at %d, before the MutatingWebhookConfiguration (%d)", server, i, cfg)
		}
	}
	for i, o := range objs {
		if !clusterScoped[o.Kind] && i < index["Namespace/mesh-cni"] {
			t.Errorf("%s/%s comes before its Namespace", o.Kind, o.Metadata.Name)
		}
	}
}
