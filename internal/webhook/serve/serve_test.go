package serve

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

const deployDir = "../../../deploy"

// bound is how long the API server may take to act on a change it was
// told of (a configuration's caBundle reaching its webhook client).
const bound = 30 * time.Second

// TestAgainstAPIServer runs two replicas of the webhook in this process
// against a real kube-apiserver, with deploy/'s RBAC and configuration
// (its clientConfig turned into a url on loopback, a balancer in front of
// the replicas as the Service is), and creates pods as OSM v1.2.4's and
// osm-edge's injectors shape them.
func TestAgainstAPIServer(t *testing.T) {
	cp := cluster.StartControlPlane(t)
	admin := adminClient(t, cp)
	sa := serviceAccount(t, cp)
	cp.Kubectl(t, "apply", "-f", filepath.Join(deployDir, "webhook-rbac.yaml"))
	cp.InstallMeshConfigCRD(t)
	cp.Apply(t, `apiVersion: v1
kind: Namespace
metadata:
  name: osm-system
---
apiVersion: v1
kind: Namespace
metadata:
  name: apps
  labels: {openservicemesh.io/monitored-by: osm, pod-security.kubernetes.io/enforce: baseline}
---
apiVersion: v1
kind: Namespace
metadata:
  name: load
  labels: {openservicemesh.io/monitored-by: osm}
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: v1
kind: Namespace
metadata:
  name: strict
  labels: {pod-security.kubernetes.io/enforce: restricted}
`)
	lns := []net.Listener{listen(t), listen(t)}
	// Replica 0 alone serves until the burst, so that the renewals are
	// those of the replica answering.
	front := newBalancer(t, lns[0].Addr().String())
	applyConfiguration(t, cp, "https://"+front.ln.Addr().String()+"/mutate-pods")
	if got := caBundle(t, admin); len(got) != 0 {
		t.Fatalf("the configuration starts with a caBundle: %q", got)
	}

	// The replicas' log, shown when the test fails (appends to one file
	// are safe from several goroutines).
	logs, err := os.Create(filepath.Join(t.TempDir(), "webhook.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logs.Name())
			t.Logf("webhook log:\n%s", data)
		}
		logs.Close()
	})
	burst := &killSwitch{at: burstKillAt, fire: make(chan struct{})}
	servers := make([]*replica, 2)
	for i := range servers {
		servers[i] = start(t, sa, lns[i], logs, burst.answered(i))
	}
	eventually(t, bound, "both replicas Ready", func() bool { return servers[0].ready.Load() && servers[1].ready.Load() })
	bundle := caBundle(t, admin)
	secret := cp.Kubectl(t, "get", "secret", "-n", "mesh-cni", "mesh-cni-webhook-ca", "-o", "jsonpath={.data.ca\\.crt}")
	if string(bundle) != decode(t, secret) {
		t.Fatalf("caBundle %q is not the Secret's ca.crt", bundle)
	}
	for i, ln := range lns {
		if c := handshake(t, bundle, ln.Addr().String()); c.Subject.CommonName != "mesh-cni-webhook.mesh-cni.svc" {
			t.Errorf("replica %d serves %v", i, c.Subject)
		}
	}
	eventually(t, bound, "the API server calls the webhook with the caBundle", func() bool {
		p, err := createPod(admin, "apps", webhooktest.OSMPod("probe", webhooktest.DefaultScript), true)
		return err == nil && !hasInit(p)
	})

	t.Run("injected pods lose osm-init, get the validator first and pass baseline", func(t *testing.T) {
		for _, p := range []*corev1.Pod{webhooktest.OSMPod("web", webhooktest.DefaultScript), webhooktest.OSMPod("db", webhooktest.DefaultScript, "migrate", "wait-for-db")} {
			stored, err := createPod(admin, "apps", p, false)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(slices.Clone(p.Spec.InitContainers), func(c corev1.Container) bool { return c.Name == webhook.InitContainerName })
			want = append([]corev1.Container{{Name: validate.ContainerName}}, want...)
			if hasInit(stored) || len(stored.Spec.InitContainers) != len(want) || stored.Annotations[webhook.CommandAnnotation] != webhooktest.DefaultScript {
				t.Errorf("%s stored with init containers %v and record %q", p.Name, names(stored.Spec.InitContainers), stored.Annotations[webhook.CommandAnnotation])
			}
			for i := range want {
				if stored.Spec.InitContainers[i].Name != want[i].Name {
					t.Errorf("%s: init container %d is %s, want %s", p.Name, i, stored.Spec.InitContainers[i].Name, want[i].Name)
				}
			}
		}
	})
	t.Run("the validation container passes restricted", func(t *testing.T) { validatorRestricted(t, admin) })
	t.Run("a namespace the mesh does not monitor", func(t *testing.T) {
		stored, err := createPod(admin, "other", webhooktest.OSMPod("web", webhooktest.DefaultScript), false)
		if err != nil || !hasInit(stored) || stored.Annotations[webhook.CommandAnnotation] != "" {
			t.Errorf("pod %v, %v; want it as created, with osm-init", stored, err)
		}
	})
	t.Run("osm-edge in interceptionMode none and ebpf", func(t *testing.T) { osmEdgeModes(t, cp, admin) })
	t.Run("renewals while pods are created", func(t *testing.T) { renewUnderLoad(t, admin, servers[0].Server, bundle, lns[0].Addr().String()) })
	t.Run("both replicas killed during a burst", func(t *testing.T) {
		front.use(lns[0].Addr().String(), lns[1].Addr().String())
		killDuringBurst(t, admin, burst, servers)
	})
	t.Run("webhook down: pods are admitted unchanged", func(t *testing.T) {
		stored, err := createPod(admin, "load", webhooktest.OSMPod("while-down", webhooktest.DefaultScript), false)
		if err != nil || !hasInit(stored) || stored.Annotations[webhook.CommandAnnotation] != "" {
			t.Errorf("pod %v, %v; want it admitted with osm-init", stored, err)
		}
		// What the webhook buys: baseline refuses osm-init's NET_ADMIN.
		if _, err := createPod(admin, "apps", webhooktest.OSMPod("refused", webhooktest.DefaultScript), false); err == nil || !strings.Contains(err.Error(), "NET_ADMIN") {
			t.Errorf("a pod with osm-init in a baseline namespace: %v, want refused for NET_ADMIN", err)
		}
	})
}

// renewUnderLoad creates pods from three workers and renews the serving
// certificate after every tenth: no admission may be lost.
func renewUnderLoad(t *testing.T, admin *kube.Client, s *Server, bundle []byte, addr string) {
	const total, workers = 30, 3
	var created, renewals atomic.Int32
	serials := map[string]bool{s.rotator.Current().SerialNumber.String(): true}
	var mu sync.Mutex
	got := createBurst(t, admin, "load", total, workers, func() {
		if created.Add(1)%10 != 0 {
			return
		}
		if err := s.rotator.Renew(); err != nil {
			t.Error(err)
		}
		renewals.Add(1)
		mu.Lock()
		serials[s.rotator.Current().SerialNumber.String()] = true
		mu.Unlock()
	})
	t.Logf("%d pods: %s; %d renewals", total, got, renewals.Load())
	if got.recorded.Load() != total || len(serials) != 4 {
		t.Errorf("want all %d pods recorded without osm-init across 3 renewals (4 certificates, got %d)", total, len(serials))
	}
	if got := handshake(t, bundle, addr); got.SerialNumber.Cmp(s.rotator.Current().SerialNumber) != 0 {
		t.Error("a new handshake does not get the renewed certificate")
	}
}

// account is what a pod of the webhook's service account is given: the
// mounted token and CA, and the API server's address in its environment.
type account struct{ dir, host, port string }

func serviceAccount(t *testing.T, cp *cluster.ControlPlane) account {
	t.Helper()
	u, err := url.Parse(cp.Server)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.LoadKubeconfig(cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni-webhook"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(cp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string]string{"token": kc.Token, "ca.crt": string(ca)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return account{dir, u.Hostname(), u.Port()}
}

// applyConfiguration applies deploy/'s configuration with its clientConfig
// pointed at url.
func applyConfiguration(t *testing.T, cp *cluster.ControlPlane, url string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "webhook-configuration.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &mwc); err != nil {
		t.Fatal(err)
	}
	mwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	out, err := yaml.Marshal(mwc)
	if err != nil {
		t.Fatal(err)
	}
	cp.Apply(t, string(out))
}
