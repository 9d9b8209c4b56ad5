package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/webhook"
	"github.com/mesh-cni/mesh-cni/pkg/webhook/webhooktest"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

const deployDir = "../../../deploy"

// bound is how long the API server may take to act on a change it was
// told of (a configuration's caBundle reaching its webhook client).
const bound = 30 * time.Second

// TestAgainstAPIServer runs two replicas of the webhook in this process
// against a real kube-apiserver, with deploy/'s RBAC and configuration
// (its clientConfig turned into a url on loopback), and creates pods as
// OSM v1.2.4's injector shapes them.
func TestAgainstAPIServer(t *testing.T) {
	cp := cluster.StartControlPlane(t)
	admin := adminClient(t, cp)
	sa := serviceAccount(t, cp)
	cp.Kubectl(t, "apply", "-f", filepath.Join(deployDir, "webhook-rbac.yaml"))
	cp.Apply(t, `apiVersion: v1
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
`)
	lns := []net.Listener{listen(t), listen(t)}
	applyConfiguration(t, cp, "https://"+lns[0].Addr().String()+"/mutate-pods")
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
	servers := make([]*Server, 2)
	stops := make([]func(), 2)
	for i := range servers {
		servers[i], stops[i] = start(t, sa, lns[i], logs)
	}
	defer stops[1]()
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

	t.Run("injected pods lose osm-init and pass baseline", func(t *testing.T) {
		for _, p := range []*corev1.Pod{webhooktest.OSMPod("web", webhooktest.DefaultScript), webhooktest.OSMPod("db", webhooktest.DefaultScript, "migrate", "wait-for-db")} {
			stored, err := createPod(admin, "apps", p, false)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(slices.Clone(p.Spec.InitContainers), func(c corev1.Container) bool { return c.Name == webhook.InitContainerName })
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
	t.Run("a namespace the mesh does not monitor", func(t *testing.T) {
		stored, err := createPod(admin, "other", webhooktest.OSMPod("web", webhooktest.DefaultScript), false)
		if err != nil || !hasInit(stored) || stored.Annotations[webhook.CommandAnnotation] != "" {
			t.Errorf("pod %v, %v; want it as created, with osm-init", stored, err)
		}
	})
	t.Run("renewals while pods are created", func(t *testing.T) { renewUnderLoad(t, admin, servers[0], bundle, lns[0].Addr().String()) })

	stops[0]()
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
	var recorded, keptInit, neither, failed atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				stored, err := createPod(admin, "load", webhooktest.OSMPod(fmt.Sprintf("load-%d", i), webhooktest.DefaultScript), false)
				switch {
				case err != nil:
					failed.Add(1)
					t.Errorf("pod load-%d: %v", i, err)
				case !hasInit(stored) && stored.Annotations[webhook.CommandAnnotation] == webhooktest.DefaultScript:
					recorded.Add(1)
				case hasInit(stored) && stored.Annotations[webhook.CommandAnnotation] == "":
					keptInit.Add(1)
				default:
					neither.Add(1)
				}
				if created.Add(1)%10 == 0 {
					if err := s.rotator.Renew(); err != nil {
						t.Error(err)
					}
					renewals.Add(1)
					mu.Lock()
					serials[s.rotator.Current().SerialNumber.String()] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d pods: %d recorded without osm-init, %d kept osm-init, %d neither, %d failed; %d renewals",
		total, recorded.Load(), keptInit.Load(), neither.Load(), failed.Load(), renewals.Load())
	if neither.Load() != 0 || failed.Load() != 0 || recorded.Load() != total || len(serials) != 4 {
		t.Errorf("want all %d pods recorded without osm-init across 3 renewals (4 certificates, got %d)", total, len(serials))
	}
	if got := handshake(t, bundle, addr); got.SerialNumber.Cmp(s.rotator.Current().SerialNumber) != 0 {
		t.Error("a new handshake does not get the renewed certificate")
	}
}

func start(t *testing.T, sa account, ln net.Listener, logs io.Writer) (*Server, func()) {
	t.Helper()
	cfg, err := Parse([]string{"--namespace", "mesh-cni", "--service-account-dir", sa.dir, "--extra-names", "127.0.0.1",
		"--kubernetes-service-host", sa.host, "--kubernetes-service-port", sa.port}, func(string) string { return "" }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
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
