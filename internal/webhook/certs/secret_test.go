package certs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// TestStoreOnAPIServer keeps the CA in a Secret of a real kube-apiserver:
// replicas starting together end up with one CA; a replica that loses the
// create reads the winner's; a Secret that holds no usable CA, or one that
// ends too soon, is an error naming it.
func TestStoreOnAPIServer(t *testing.T) {
	cp := cluster.StartControlPlane(t)
	cfg, err := kube.LoadKubeconfig(cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c := kube.NewClient(cfg)
	defer c.Close()
	cp.Kubectl(t, "create", "namespace", "mesh-cni")
	ctx := context.Background()
	store := func(name string) Store {
		return Store{API: c, Namespace: "mesh-cni", Name: name, Log: slog.New(slog.DiscardHandler)}
	}

	cas := make([]*Authority, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cas[i], errs[i] = store("together").LoadOrCreate(ctx, time.Now(), 24*time.Hour)
		}()
	}
	wg.Wait()
	for i := range cas {
		if errs[i] != nil || !cas[i].Cert.Equal(cas[0].Cert) {
			t.Fatalf("replica %d: %v; want the one CA all share", i, errs[i])
		}
	}
	out := cp.Kubectl(t, "get", "secret", "-n", "mesh-cni", "together", "-o", "jsonpath={.type} {.metadata.labels.app\\.kubernetes\\.io/component}")
	if out != "Opaque webhook" {
		t.Errorf("Secret type and component %q", out)
	}

	// The loser of the race: its create answers AlreadyExists.
	lost, err := store("together").create(ctx, time.Now())
	if err != nil || !lost.Cert.Equal(cas[0].Cert) {
		t.Fatalf("a create that lost the race: %v; want the stored CA", err)
	}

	cp.Kubectl(t, "create", "secret", "generic", "-n", "mesh-cni", "broken", "--from-literal=ca.crt=x")
	if _, err := store("broken").LoadOrCreate(ctx, time.Now(), time.Hour); err == nil || !strings.Contains(err.Error(), "Secret mesh-cni/broken") {
		t.Errorf("a Secret without a CA: %v", err)
	}
	if _, err := store("together").LoadOrCreate(ctx, time.Now().Add(CALifetime), 24*time.Hour); err == nil || !strings.Contains(err.Error(), "expires at") {
		t.Errorf("a CA ending within the serving lifetime: %v", err)
	}
}
