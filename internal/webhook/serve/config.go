// Package serve runs mesh-cni's admission webhook: HTTPS with a
// certificate it makes itself, the CA written into its own
// MutatingWebhookConfiguration, and /mutate-pods, /readyz and /healthz.
package serve

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/settings"
)

// Config holds the webhook's settings. Each is a flag and an environment
// variable; the flag wins.
type Config struct {
	ListenAddress     string
	Namespace         string
	ServiceName       string
	ClusterDomain     string
	ExtraNames        []string
	SecretName        string
	ConfigurationName string
	WebhookName       string
	// MeshNamespace and MeshConfigName locate the MeshConfig (and the
	// osm-config ConfigMap beside it) of osm-edge's pods in
	// interceptionMode none; the plugin's defaults.
	MeshNamespace     string
	MeshConfigName    string
	CertLifetime      time.Duration
	Resync            time.Duration
	ServiceAccountDir string
	KubeHost          string
	KubePort          string
	LogLevel          string
	LogFormat         string
	// Validation adds the validation init container to the pods given a
	// record (on by default); ValidatorImage is its image: mesh-cni's own,
	// which the Deployment passes as the webhook's own image.
	Validation     bool
	ValidatorImage string
}

// DNSNames are the names the API server may dial the Service by, then the
// extra names.
func (c Config) DNSNames() []string {
	svc, ns := c.ServiceName, c.Namespace
	return append([]string{svc + "." + ns + ".svc", svc, svc + "." + ns, svc + "." + ns + ".svc." + c.ClusterDomain}, c.ExtraNames...)
}

// Parse reads the settings from args and, for flags not given, getenv.
func Parse(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	envs := map[string]string{}
	str := func(p *string, name, env, def, usage string) {
		envs[name] = env
		fs.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
	}
	str(&c.ListenAddress, "listen-address", "MESH_CNI_WEBHOOK_LISTEN_ADDRESS", ":9443", "HTTPS address of /mutate-pods, /readyz and /healthz")
	str(&c.Namespace, "namespace", "MESH_CNI_WEBHOOK_NAMESPACE", "", "the webhook's namespace, of its Service and CA Secret (required; the Deployment sets it from metadata.namespace)")
	str(&c.ServiceName, "service-name", "MESH_CNI_WEBHOOK_SERVICE", "mesh-cni-webhook", "the Service the API server calls the webhook through; its DNS names go into the serving certificate")
	str(&c.ClusterDomain, "cluster-domain", "MESH_CNI_WEBHOOK_CLUSTER_DOMAIN", "cluster.local", "the cluster's DNS domain, for the Service's longest name")
	extra := fs.String("extra-names", "", "comma-separated further DNS names or IP addresses for the serving certificate, e.g. for a url clientConfig (env MESH_CNI_WEBHOOK_EXTRA_NAMES)")
	envs["extra-names"] = "MESH_CNI_WEBHOOK_EXTRA_NAMES"
	str(&c.SecretName, "secret-name", "MESH_CNI_WEBHOOK_SECRET", "mesh-cni-webhook-ca", "the Secret in --namespace holding the CA the replicas share; created when absent")
	str(&c.ConfigurationName, "webhook-configuration", "MESH_CNI_WEBHOOK_CONFIGURATION", "osm-webhook-osm-mesh-cni", "the MutatingWebhookConfiguration whose webhooks[0].clientConfig.caBundle the webhook writes")
	str(&c.WebhookName, "webhook-name", "MESH_CNI_WEBHOOK_NAME", "mesh-cni-osm-init.mesh-cni.io", "the name webhooks[0] must have; the caBundle is written only then")
	str(&c.MeshNamespace, "mesh-namespace", "MESH_CNI_WEBHOOK_MESH_NAMESPACE", settings.DefaultMeshNamespace, "the namespace of the mesh's MeshConfig or osm-config ConfigMap, as the plugin's meshNamespace")
	str(&c.MeshConfigName, "mesh-config-name", "MESH_CNI_WEBHOOK_MESH_CONFIG_NAME", settings.DefaultMeshConfigName, "the MeshConfig read for osm-edge's pods in interceptionMode none, as the plugin's meshConfigName")
	lifetime := fs.String("cert-lifetime", "24h", "lifetime of the serving certificate, renewed at two thirds of it (env MESH_CNI_WEBHOOK_CERT_LIFETIME)")
	envs["cert-lifetime"] = "MESH_CNI_WEBHOOK_CERT_LIFETIME"
	resync := fs.String("resync-interval", "1m", "how often the caBundle is checked and rewritten if it differs (env MESH_CNI_WEBHOOK_RESYNC_INTERVAL)")
	envs["resync-interval"] = "MESH_CNI_WEBHOOK_RESYNC_INTERVAL"
	str(&c.ServiceAccountDir, "service-account-dir", "MESH_CNI_SERVICE_ACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount", "the pod's service account token and ca.crt; the token is read again before each use")
	str(&c.KubeHost, "kubernetes-service-host", "KUBERNETES_SERVICE_HOST", "", "API server address (set by Kubernetes in every pod)")
	str(&c.KubePort, "kubernetes-service-port", "KUBERNETES_SERVICE_PORT", "", "API server port (set by Kubernetes in every pod)")
	str(&c.LogLevel, "log-level", "MESH_CNI_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "MESH_CNI_LOG_FORMAT", "json", "json or text")
	fs.BoolVar(&c.Validation, "validation", true, "add the validation init container (mesh-cni validate) first to every pod given a record, so that a pod whose sandbox got no rules never runs its app (env MESH_CNI_WEBHOOK_VALIDATION)")
	envs["validation"] = "MESH_CNI_WEBHOOK_VALIDATION"
	str(&c.ValidatorImage, "validator-image", "MESH_CNI_WEBHOOK_VALIDATOR_IMAGE", "", "the validation container's image, holding /mesh-cni: the webhook's own (deploy/webhook.yaml passes the image it runs); required with --validation")
	// The environment replaces the defaults; flags given override it.
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envs[f.Name]); v != "" && bad == nil {
			if err := f.Value.Set(v); err != nil {
				bad = fmt.Errorf("%s=%q: %w", envs[f.Name], v, err)
			}
		}
	})
	if bad != nil {
		return c, bad
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, n := range strings.Split(*extra, ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.ExtraNames = append(c.ExtraNames, n)
		}
	}
	var err error
	if c.CertLifetime, err = time.ParseDuration(*lifetime); err != nil || c.CertLifetime < 3*time.Minute {
		return c, fmt.Errorf("--cert-lifetime %q: want a duration of at least 3m", *lifetime)
	}
	if c.Resync, err = time.ParseDuration(*resync); err != nil || c.Resync <= 0 {
		return c, fmt.Errorf("--resync-interval %q: want a positive duration", *resync)
	}
	if c.Namespace == "" {
		return c, fmt.Errorf("--namespace (MESH_CNI_WEBHOOK_NAMESPACE) must be set: the CA Secret and the Service are in it")
	}
	if c.Validation && c.ValidatorImage == "" {
		return c, fmt.Errorf("--validator-image (MESH_CNI_WEBHOOK_VALIDATOR_IMAGE) must be set while --validation is on: the webhook's own image, or turn validation off with --validation=false")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("--log-format %q: want json or text", c.LogFormat)
	}
	return c, nil
}
