package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

func adminClient(t *testing.T, cp *cluster.ControlPlane) *kube.Client {
	t.Helper()
	cfg, err := kube.LoadKubeconfig(cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c := kube.NewClient(cfg)
	t.Cleanup(c.Close)
	return c
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// createPod creates p in ns (only through admission with dryRun) and
// returns the pod as stored.
func createPod(c *kube.Client, ns string, p *corev1.Pod, dryRun bool) (*corev1.Pod, error) {
	path := "/api/v1/namespaces/" + ns + "/pods"
	if dryRun {
		path += "?dryRun=All"
	}
	var stored corev1.Pod
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Create(ctx, path, p, &stored); err != nil {
		return nil, err
	}
	return &stored, nil
}

func hasInit(p *corev1.Pod) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == webhook.InitContainerName {
			return true
		}
	}
	return false
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func caBundle(t *testing.T, c *kube.Client) []byte {
	t.Helper()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(context.Background(), "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/osm-webhook-osm-mesh-cni", &mwc); err != nil {
		t.Fatal(err)
	}
	return mwc.Webhooks[0].ClientConfig.CABundle
}

func decode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// handshake dials addr trusting only bundle, as the API server does for a
// url clientConfig on 127.0.0.1, and returns the certificate served.
func handshake(t *testing.T, bundle []byte, addr string) *x509.Certificate {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatalf("caBundle %q holds no certificate", bundle)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
