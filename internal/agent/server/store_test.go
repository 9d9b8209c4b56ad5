package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

const node = "node-a"

// startStore runs a Store against cp until the test ends.
func startStore(t *testing.T, cp *cluster.ControlPlane, recheck time.Duration) *Store {
	t.Helper()
	cfg, err := kube.LoadKubeconfig(cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return startStoreWith(t, kube.NewClient(cfg), recheck)
}

// startStoreWith runs a Store on api until the test ends.
func startStoreWith(t *testing.T, api *kube.Client, recheck time.Duration) *Store {
	t.Helper()
	s := NewStore(api, node, testLogger(t))
	s.recheck = recheck
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		api.Close()
	})
	return s
}

// testLogger logs into the test's output, which shows watch (re)starts
// next to the control plane's events when a test fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// eventually polls check until it returns nil, failing the test with its
// last error after 30 s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watched returns the watch of namespace/name in m, or nil.
func (s *Store) watched(m map[string]*reflector, namespace, name string) *reflector {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[namespace+"/"+name]
}

// absentErr says why r has not (yet) found its collection not served.
func absentErr(r *reflector) error {
	if r == nil {
		return errors.New("no watch")
	}
	if !r.isAbsent() {
		return errors.New("not found absent")
	}
	return nil
}

func liveErr(r *reflector, want bool) error {
	if r == nil {
		return errors.New("no watch")
	}
	if r.isLive() != want {
		return fmt.Errorf("live = %v, want %v", !want, want)
	}
	return nil
}

// noLiveGets fails the test if the API was read since before.
func noLiveGets(t *testing.T, s *Store, before int64, what string) {
	t.Helper()
	if n := s.liveGets.Load() - before; n != 0 {
		t.Errorf("%s: %d reads went to the API, want the cache to answer", what, n)
	}
}

func podYAML(name, nodeName string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: demo}\nspec: {nodeName: %s, containers: [{name: app, image: app}]}\n", name, nodeName)
}

func configMapYAML(value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: osm-config, namespace: demo}\ndata: {outbound_port_exclusion_list: \"" + value + "\"}\n"
}

func meshConfigYAML(port int) string {
	return fmt.Sprintf("apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata: {name: osm-mesh-config, namespace: osm-system}\nspec: {traffic: {outboundPortExclusionList: [%d]}}\n", port)
}

// unreachable checks that a read failed the way the plugin turns into
// "try again later".
func unreachable(what string, err error) error {
	if err == nil || !kube.IsUnreachable(err) || !kube.IsTransient(err) {
		return fmt.Errorf("%s with the API stopped: %v, want an unreachable, transient error", what, err)
	}
	return nil
}

func TestStorePodsAndConfigMaps(t *testing.T) {
	t.Parallel()
	cp := cluster.StartControlPlane(t)
	cp.Kubectl(t, "create", "namespace", "demo")
	cp.Apply(t, podYAML("web", node))
	// No MeshConfig CRD here, and no recheck during the test: "absent" must
	// still stop answering when the API goes away.
	s := startStore(t, cp, time.Hour)
	ctx := context.Background()

	eventually(t, "pod watch live", func() error { return liveErr(s.pods, true) })
	if !s.Synced() {
		t.Fatal("Synced false with the pod watch live")
	}
	before := s.liveGets.Load()
	web, err := s.GetPod(ctx, "demo", "web", "")
	if err != nil || web.Metadata.Name != "web" || web.Metadata.UID == "" || web.Spec.NodeName != node || web.Spec.Containers[0].Name != "app" {
		t.Fatalf("GetPod = %+v, %v", web, err)
	}
	uid := web.Metadata.UID
	noLiveGets(t, s, before, "pod listed at start")

	// Readers get copies.
	web.Metadata.Annotations = map[string]string{"changed": "by caller"}
	web.Spec.Containers[0].Name = "changed"
	if again, _ := s.GetPod(ctx, "demo", "web", uid); again == nil || again.Metadata.Annotations["changed"] != "" || again.Spec.Containers[0].Name != "app" {
		t.Errorf("cached pod changed by a caller: %+v", again)
	}

	// Another UID under the name, and another node's pod, go to the API.
	before = s.liveGets.Load()
	if p, err := s.GetPod(ctx, "demo", "web", "another-uid"); err != nil || p.Metadata.UID != uid {
		t.Errorf("GetPod with another UID = %+v, %v", p, err)
	}
	cp.Apply(t, podYAML("elsewhere", "node-b"))
	if p, err := s.GetPod(ctx, "demo", "elsewhere", ""); err != nil || p.Spec.NodeName != "node-b" {
		t.Errorf("GetPod of another node's pod = %+v, %v", p, err)
	}
	if n := s.liveGets.Load() - before; n != 2 {
		t.Errorf("%d reads went to the API, want 2 (UID differs; not on this node)", n)
	}

	// An update reaches the cache; reads meanwhile are all answered by it.
	before = s.liveGets.Load()
	cp.Kubectl(t, "annotate", "pod", "web", "-n", "demo", "openservicemesh.io/sidecar-injection=enabled")
	eventually(t, "annotation in the cache", func() error {
		p, err := s.GetPod(ctx, "demo", "web", uid)
		if err != nil || p.Metadata.Annotations["openservicemesh.io/sidecar-injection"] != "enabled" {
			return fmt.Errorf("GetPod = %+v, %v", p, err)
		}
		return nil
	})
	noLiveGets(t, s, before, "annotated pod")
	if _, found, _ := s.pods.lookup("demo/elsewhere"); found {
		t.Error("another node's pod is in the cache")
	}

	// A pod created now reaches the cache.
	cp.Apply(t, podYAML("new", node))
	eventually(t, "new pod in the cache", func() error {
		if _, found, _ := s.pods.lookup("demo/new"); !found {
			return errors.New("not cached")
		}
		return nil
	})
	before = s.liveGets.Load()
	if p, err := s.GetPod(ctx, "demo", "new", ""); err != nil || p.Metadata.Name != "new" {
		t.Errorf("GetPod(new) = %+v, %v", p, err)
	}
	noLiveGets(t, s, before, "new pod")

	// A deleted pod leaves the cache and reads as not found.
	cp.Kubectl(t, "delete", "pod", "web", "-n", "demo", "--grace-period=0", "--force")
	eventually(t, "deleted pod gone from the cache", func() error {
		if _, found, _ := s.pods.lookup("demo/web"); found {
			return errors.New("still cached")
		}
		return nil
	})
	if p, err := s.GetPod(ctx, "demo", "web", uid); !errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) {
		t.Errorf("GetPod of a deleted pod = %+v, %v; want not found", p, err)
	}

	// ConfigMap: the first read asks the API and starts the name's watch;
	// concurrent first reads start one.
	before = s.liveGets.Load()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.GetConfigMap(ctx, "demo", "osm-config"); !errors.Is(err, kube.ErrNotFound) {
				t.Errorf("GetConfigMap before it exists: %v, want not found", err)
			}
		}()
	}
	wg.Wait()
	if n := s.liveGets.Load() - before; n < 1 {
		t.Errorf("first reads of the ConfigMap: %d API reads, want at least 1", n)
	}
	if len(s.configMaps) != 1 {
		t.Errorf("%d ConfigMap watches, want 1", len(s.configMaps))
	}
	cmWatch := s.watched(s.configMaps, "demo", "osm-config")
	eventually(t, "ConfigMap watch live", func() error { return liveErr(cmWatch, true) })
	before = s.liveGets.Load()
	if _, err := s.GetConfigMap(ctx, "demo", "osm-config"); !errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) {
		t.Errorf("GetConfigMap from a live watch of nothing: %v, want not found", err)
	}
	// Concurrent readers while it changes (go test -race).
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if cm, err := s.GetConfigMap(ctx, "demo", "osm-config"); err == nil {
					cm.Data["scribbled"] = "by a reader"
				}
				s.GetPod(ctx, "demo", "new", "")
			}
		}()
	}
	for _, value := range []string{"6379", "6380"} {
		cp.Apply(t, configMapYAML(value))
		eventually(t, "ConfigMap "+value+" in the cache", func() error {
			cm, err := s.GetConfigMap(ctx, "demo", "osm-config")
			if err != nil || cm.Data["outbound_port_exclusion_list"] != value || cm.Data["scribbled"] != "" {
				return fmt.Errorf("GetConfigMap = %+v, %v", cm, err)
			}
			return nil
		})
	}
	cp.Kubectl(t, "delete", "configmap", "osm-config", "-n", "demo")
	eventually(t, "deleted ConfigMap not found", func() error {
		if cm, err := s.GetConfigMap(ctx, "demo", "osm-config"); !errors.Is(err, kube.ErrNotFound) {
			return fmt.Errorf("GetConfigMap = %+v, %v", cm, err)
		}
		return nil
	})
	close(stop)
	readers.Wait()
	noLiveGets(t, s, before, "ConfigMap created, updated, deleted")

	// Watches open on demand only up to maxWatchedNames.
	for i := range maxWatchedNames {
		s.GetConfigMap(ctx, "demo", fmt.Sprint("other-", i))
	}
	if len(s.configMaps) != maxWatchedNames || s.watched(s.configMaps, "demo", "other-15") != nil {
		t.Errorf("%d ConfigMap watches, want %d", len(s.configMaps), maxWatchedNames)
	}

	// No MeshConfig CRD: once the look has found it not served, reads
	// still go to the API, which says "not found" - never the cache.
	if _, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, kube.ErrNotFound) {
		t.Fatalf("GetMeshConfig without the CRD: %v, want not found", err)
	}
	mcWatch := s.watched(s.meshConfigs, "osm-system", "osm-mesh-config")
	eventually(t, "MeshConfig found not served", func() error { return absentErr(mcWatch) })
	before = s.liveGets.Load()
	if _, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) {
		t.Errorf("GetMeshConfig without the CRD, looked at: %v, want not found", err)
	}
	if got := s.liveGets.Load() - before; got != 1 {
		t.Errorf("MeshConfig without the CRD: %d reads went to the API, want 1", got)
	}

	// With the API stopped, nothing answers from the cache.
	cp.Stop(t)
	eventually(t, "watches down", func() error {
		if s.Synced() {
			return errors.New("Synced still true")
		}
		return liveErr(cmWatch, false)
	})
	before = s.liveGets.Load()
	_, podErr := s.GetPod(ctx, "demo", "new", "")
	_, cmErr := s.GetConfigMap(ctx, "demo", "osm-config")
	_, mcErr := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
	if err := errors.Join(unreachable("GetPod", podErr), unreachable("GetConfigMap", cmErr), unreachable("GetMeshConfig", mcErr)); err != nil {
		t.Error(err)
	}
	if n := s.liveGets.Load() - before; n != 3 {
		t.Errorf("%d reads went to the API, want 3", n)
	}

	// Back up, the caches answer again, with what changed meanwhile.
	cp.Start(t)
	cp.Apply(t, configMapYAML("8080"))
	eventually(t, "watches back", func() error {
		if !s.Synced() {
			return errors.New("Synced false")
		}
		// Still no CRD: the MeshConfig stays read from the API.
		return errors.Join(liveErr(cmWatch, true), liveErr(mcWatch, false), absentErr(mcWatch))
	})
	eventually(t, "ConfigMap from the cache", func() error {
		before := s.liveGets.Load()
		cm, err := s.GetConfigMap(ctx, "demo", "osm-config")
		if err != nil || cm.Data["outbound_port_exclusion_list"] != "8080" || s.liveGets.Load() != before {
			return fmt.Errorf("GetConfigMap = %+v, %v", cm, err)
		}
		return nil
	})
	before = s.liveGets.Load()
	if p, err := s.GetPod(ctx, "demo", "new", ""); err != nil || p.Metadata.Name != "new" {
		t.Errorf("GetPod after the restart = %+v, %v", p, err)
	}
	noLiveGets(t, s, before, "pod after the restart")
}

func TestStoreMeshConfig(t *testing.T) {
	t.Parallel()
	cp := cluster.StartControlPlane(t)
	s := startStore(t, cp, time.Hour)
	ctx := context.Background()
	eventually(t, "pod watch live", func() error { return liveErr(s.pods, true) })

	if _, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, kube.ErrNotFound) {
		t.Fatalf("GetMeshConfig without the CRD: %v, want not found", err)
	}
	mcWatch := s.watched(s.meshConfigs, "osm-system", "osm-mesh-config")
	eventually(t, "MeshConfig found not served", func() error { return absentErr(mcWatch) })

	// The CRD installed later: a MeshConfig created then is read at once
	// (the next look is an hour away, as after OSM's install in a real
	// cluster) and that read sets the watch going.
	cp.InstallMeshConfigCRD(t)
	cp.Kubectl(t, "create", "namespace", "osm-system")
	cp.Apply(t, meshConfigYAML(6379))
	if mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); err != nil || string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "6379" {
		t.Fatalf("GetMeshConfig right after the CRD and MeshConfig were created = %+v, %v", mc, err)
	}
	eventually(t, "MeshConfig in the cache", func() error {
		if _, found, _ := mcWatch.lookup("osm-system/osm-mesh-config"); !found {
			return errors.New("not cached")
		}
		return nil
	})
	before := s.liveGets.Load()
	mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
	if err != nil || mc.APIVersion != "config.openservicemesh.io/v1alpha2" || len(mc.Spec.Traffic.OutboundPortExclusionList) != 1 ||
		string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "6379" {
		t.Fatalf("GetMeshConfig = %+v, %v", mc, err)
	}
	mc.Spec.Traffic.OutboundPortExclusionList[0][0] = '9'

	cp.Apply(t, meshConfigYAML(6380))
	eventually(t, "MeshConfig update in the cache", func() error {
		mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
		if err != nil || len(mc.Spec.Traffic.OutboundPortExclusionList) != 1 || string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "6380" {
			return fmt.Errorf("GetMeshConfig = %+v, %v", mc, err)
		}
		return nil
	})
	noLiveGets(t, s, before, "MeshConfig read and updated")

	// Not served at the preferred version: the next one is watched, and
	// named.
	older := s.meshConfigReflector(testLogger(t), "osm-system", "osm-mesh-config", []string{"v1beta9", "v1alpha1"})
	olderCtx, stopOlder := context.WithCancel(ctx)
	olderDone := make(chan struct{})
	go func() {
		older.run(olderCtx)
		close(olderDone)
	}()
	eventually(t, "v1alpha1 watch", func() error {
		e, found, _ := older.lookup("osm-system/osm-mesh-config")
		if !found {
			return errors.New("not cached")
		}
		mc, err := decode[object.MeshConfig](e, "MeshConfig", "osm-system", "osm-mesh-config")
		if err != nil || mc.APIVersion != "config.openservicemesh.io/v1alpha1" || string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "6380" {
			return fmt.Errorf("cached %+v, %v", mc, err)
		}
		return nil
	})
	stopOlder()
	<-olderDone

	// One that does not decode fails to read, as from the API: were it
	// "not found", the plugin would fall back to OSM's defaults.
	before = s.liveGets.Load()
	cp.Apply(t, "apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata: {name: osm-mesh-config, namespace: osm-system}\nspec: {traffic: {outboundIPRangeExclusionList: 10.0.0.0/8}}\n")
	eventually(t, "undecodable MeshConfig fails", func() error {
		mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
		if err == nil || errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) || !strings.Contains(err.Error(), "outboundIPRangeExclusionList") {
			return fmt.Errorf("GetMeshConfig = %+v, %v", mc, err)
		}
		return nil
	})
	if _, err := s.api.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); err == nil || errors.Is(err, kube.ErrNotFound) {
		t.Errorf("the API's answer decoded (%v): the cache's error is not the API's", err)
	}

	// Deleted, it is not found, still without asking the API.
	cp.Kubectl(t, "delete", "meshconfig", "osm-mesh-config", "-n", "osm-system")
	eventually(t, "deleted MeshConfig not found", func() error {
		if mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) {
			return fmt.Errorf("GetMeshConfig = %+v, %v", mc, err)
		}
		return nil
	})
	noLiveGets(t, s, before, "MeshConfig deleted")

	cp.Stop(t)
	eventually(t, "MeshConfig watch down", func() error { return liveErr(mcWatch, false) })
	_, err = s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
	if err := unreachable("GetMeshConfig", err); err != nil {
		t.Error(err)
	}
	cp.Start(t)
	cp.Apply(t, meshConfigYAML(15000))
	eventually(t, "MeshConfig from the cache after the restart", func() error {
		before := s.liveGets.Load()
		mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
		if err != nil || string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "15000" || s.liveGets.Load() != before {
			return fmt.Errorf("GetMeshConfig = %+v, %v", mc, err)
		}
		return nil
	})
}
