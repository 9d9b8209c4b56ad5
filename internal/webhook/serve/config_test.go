package serve

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := map[string]string{"MESH_CNI_WEBHOOK_NAMESPACE": "mesh-cni", "MESH_CNI_WEBHOOK_CERT_LIFETIME": "12h", "MESH_CNI_WEBHOOK_LISTEN_ADDRESS": ":8443", "MESH_CNI_WEBHOOK_VALIDATOR_IMAGE": "reg/mesh-cni:v1"}
	cfg, err := Parse([]string{"--listen-address", "127.0.0.1:9443", "--extra-names", "127.0.0.1, webhook.example"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != "127.0.0.1:9443" || cfg.CertLifetime != 12*time.Hour || cfg.Resync != time.Minute || cfg.SecretName != "mesh-cni-webhook-ca" ||
		cfg.ConfigurationName != "osm-webhook-osm-mesh-cni" || cfg.WebhookName != "mesh-cni-osm-init.mesh-cni.io" ||
		cfg.MeshNamespace != "osm-system" || cfg.MeshConfigName != "osm-mesh-config" || !cfg.Validation || cfg.ValidatorImage != "reg/mesh-cni:v1" {
		t.Errorf("config %+v: want the flag over its variable, the variable over the default", cfg)
	}
	want := "mesh-cni-webhook.mesh-cni.svc mesh-cni-webhook mesh-cni-webhook.mesh-cni mesh-cni-webhook.mesh-cni.svc.cluster.local 127.0.0.1 webhook.example"
	if got := strings.Join(cfg.DNSNames(), " "); got != want {
		t.Errorf("names %s, want %s", got, want)
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--namespace"},
		{[]string{"--namespace", "x", "--cert-lifetime", "1m"}, nil, "--cert-lifetime"},
		{[]string{"--namespace", "x"}, map[string]string{"MESH_CNI_WEBHOOK_RESYNC_INTERVAL": "soon"}, "--resync-interval"},
		{[]string{"--namespace", "x", "--log-format", "xml", "--validator-image", "i"}, nil, "--log-format"},
		{[]string{"--namespace", "x"}, nil, "--validator-image"},
		{[]string{"--namespace", "x", "serve"}, nil, "unexpected arguments"},
	} {
		if _, err := Parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%v, %v) = %v, want an error naming %s", tc.args, tc.env, err, tc.want)
		}
	}
	off, err := Parse([]string{"--namespace", "x"}, func(k string) string { return map[string]string{"MESH_CNI_WEBHOOK_VALIDATION": "false"}[k] }, io.Discard)
	if err != nil || off.Validation {
		t.Errorf("MESH_CNI_WEBHOOK_VALIDATION=false: %+v, %v; want validation off and no image needed", off, err)
	}
}
