package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// deployedAgent is a control plane with deploy/'s RBAC applied and a
// client with the agent's service account token.
type deployedAgent struct {
	cp  *cluster.ControlPlane
	api *kube.Client
}

func startDeployedAgent(t *testing.T) *deployedAgent {
	t.Helper()
	cp := cluster.StartControlPlane(t)
	cp.ApplyDeployRBAC(t)
	cfg, err := kube.LoadKubeconfig(cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni"))
	if err != nil {
		t.Fatal(err)
	}
	return &deployedAgent{cp: cp, api: kube.NewClient(cfg)}
}

// forbidden checks that err is the API server's 403 for the request.
func forbidden(what string, err error) error {
	var apiErr *kube.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusForbidden || !strings.Contains(apiErr.Message, "forbidden") {
		return fmt.Errorf("%s: %v, want 403 forbidden", what, err)
	}
	return nil
}

// TestDeployedRBACAllowsOnlyTheMeshObjects asks a real kube-apiserver,
// with deploy/'s RBAC and the agent's token, for what the agent reads and
// for what it must not read. Under a Role with resourceNames, a list or
// watch with fieldSelector metadata.name=<name> is authorized as a
// request for that name; without the selector, or for another name, it is
// forbidden.
func TestDeployedRBACAllowsOnlyTheMeshObjects(t *testing.T) {
	t.Parallel()
	d := startDeployedAgent(t)
	t.Cleanup(d.api.Close)
	d.cp.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n"+
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: osm-config, namespace: osm-system}\n---\n"+
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: osm-system}\n---\n"+
		configMapYAML("6379"))
	ctx := context.Background()
	const meshCMs = "/api/v1/namespaces/osm-system/configmaps"
	meshConfigs := "/apis/" + meshConfigGroup + "/v1alpha2/namespaces/osm-system/meshconfigs"

	items, rv, err := d.api.List(ctx, meshCMs, byName("osm-config"))
	if err != nil || len(items) != 1 || !strings.Contains(string(items[0]), `"name":"osm-config"`) {
		t.Fatalf("list osm-system/configmaps?fieldSelector=metadata.name=osm-config = %d items, %v; want osm-config", len(items), err)
	}
	w, err := d.api.Watch(ctx, meshCMs, byName("osm-config"), rv)
	if err != nil {
		t.Fatalf("watch osm-system/configmaps?fieldSelector=metadata.name=osm-config: %v", err)
	}
	w.Close()
	if _, err := d.api.GetConfigMap(ctx, "osm-system", "osm-config"); err != nil {
		t.Errorf("get osm-system/osm-config: %v", err)
	}

	var denied []error
	deny := func(what string, err error) {
		t.Logf("%s: %v", what, err)
		denied = append(denied, forbidden(what, err))
	}
	_, _, err = d.api.List(ctx, meshCMs, nil)
	deny("list osm-system/configmaps without a field selector", err)
	_, err = d.api.Watch(ctx, meshCMs, nil, rv)
	deny("watch osm-system/configmaps without a field selector", err)
	_, _, err = d.api.List(ctx, meshCMs, byName("other"))
	deny("list osm-system/configmaps for another name", err)
	_, err = d.api.GetConfigMap(ctx, "osm-system", "other")
	deny("get osm-system/other", err)
	_, err = d.api.GetConfigMap(ctx, "demo", "osm-config")
	deny("get demo/osm-config", err)
	_, _, err = d.api.List(ctx, "/api/v1/namespaces/demo/configmaps", byName("osm-config"))
	deny("list demo/configmaps for osm-config", err)
	_, _, err = d.api.List(ctx, "/api/v1/configmaps", byName("osm-config"))
	deny("list configmaps in every namespace", err)
	_, _, err = d.api.List(ctx, "/api/v1/namespaces/osm-system/secrets", nil)
	deny("list osm-system/secrets", err)
	// No CRD yet: authorization comes first, so the MeshConfig's name is
	// told "not served" and another name "forbidden".
	_, _, err = d.api.List(ctx, meshConfigs, byName("osm-mesh-config"))
	if !errors.Is(err, kube.ErrNotFound) {
		t.Errorf("list the MeshConfig before its CRD exists: %v, want 404", err)
	}
	_, _, err = d.api.List(ctx, meshConfigs, byName("other"))
	deny("list another MeshConfig", err)
	if err := errors.Join(denied...); err != nil {
		t.Error(err)
	}

	// The pods of any namespace, as far as RBAC goes; the agent asks for
	// its node's only.
	if _, _, err := d.api.List(ctx, "/api/v1/pods", url.Values{"fieldSelector": {"spec.nodeName=" + node}}); err != nil {
		t.Errorf("list pods of node %s: %v", node, err)
	}
}

// TestStoreUnderDeployedRBAC: with deploy/'s RBAC and the agent's token,
// the Store's watches of the pods, the ConfigMap and a MeshConfig created
// late go live and answer without API reads, through updates and the
// MeshConfig's deletion; a read RBAC refuses fails as forbidden, never as
// "not found" (which would give a pod OSM's defaults).
func TestStoreUnderDeployedRBAC(t *testing.T) {
	t.Parallel()
	d := startDeployedAgent(t)
	d.cp.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n"+podYAML("web", node)+"---\n"+
		strings.Replace(configMapYAML("6379"), "namespace: demo", "namespace: osm-system", 1))
	s := startStoreWith(t, d.api, time.Hour)
	ctx := context.Background()
	eventually(t, "pod watch live", func() error { return liveErr(s.pods, true) })
	before := s.liveGets.Load()
	if p, err := s.GetPod(ctx, "demo", "web", ""); err != nil || p.Spec.NodeName != node {
		t.Fatalf("GetPod = %+v, %v", p, err)
	}
	noLiveGets(t, s, before, "pod")

	if cm, err := s.GetConfigMap(ctx, "osm-system", "osm-config"); err != nil || cm.Data["outbound_port_exclusion_list"] != "6379" {
		t.Fatalf("GetConfigMap = %+v, %v", cm, err)
	}
	eventually(t, "ConfigMap watch live", func() error { return liveErr(s.watched(s.configMaps, "osm-system", "osm-config"), true) })
	before = s.liveGets.Load()
	d.cp.Apply(t, strings.Replace(configMapYAML("7070"), "namespace: demo", "namespace: osm-system", 1))
	eventually(t, "ConfigMap update in the cache", func() error {
		if cm, err := s.GetConfigMap(ctx, "osm-system", "osm-config"); err != nil || cm.Data["outbound_port_exclusion_list"] != "7070" {
			return fmt.Errorf("GetConfigMap = %+v, %v", cm, err)
		}
		return nil
	})
	noLiveGets(t, s, before, "ConfigMap updated")

	// The MeshConfig before OSM's CRD, then created late.
	if _, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, kube.ErrNotFound) {
		t.Fatalf("GetMeshConfig without the CRD: %v, want not found", err)
	}
	mcWatch := s.watched(s.meshConfigs, "osm-system", "osm-mesh-config")
	eventually(t, "MeshConfig found not served", func() error { return absentErr(mcWatch) })
	d.cp.InstallMeshConfigCRD(t)
	d.cp.Apply(t, meshConfigYAML(6379))
	if mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); err != nil || string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "6379" {
		t.Fatalf("GetMeshConfig right after it was created = %+v, %v", mc, err)
	}
	eventually(t, "MeshConfig watch live", func() error { return liveErr(mcWatch, true) })
	before = s.liveGets.Load()
	d.cp.Apply(t, meshConfigYAML(6380))
	eventually(t, "MeshConfig update in the cache", func() error {
		mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config")
		if err != nil || string(mc.Spec.Traffic.OutboundPortExclusionList[0]) != "6380" {
			return fmt.Errorf("GetMeshConfig = %+v, %v", mc, err)
		}
		return nil
	})
	d.cp.Kubectl(t, "delete", "meshconfig", "osm-mesh-config", "-n", "osm-system")
	eventually(t, "deleted MeshConfig not found", func() error {
		if mc, err := s.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) {
			return fmt.Errorf("GetMeshConfig = %+v, %v", mc, err)
		}
		return nil
	})
	noLiveGets(t, s, before, "MeshConfig updated and deleted")
	if err := liveErr(mcWatch, true); err != nil {
		t.Errorf("MeshConfig watch after the deletion: %v", err)
	}

	// Names RBAC does not grant: the watch cannot go live and the read
	// fails as the API refused it.
	_, cmErr := s.GetConfigMap(ctx, "demo", "osm-config")
	_, mcErr := s.GetMeshConfig(ctx, "osm-system", "other")
	for what, err := range map[string]error{"GetConfigMap demo/osm-config": cmErr, "GetMeshConfig osm-system/other": mcErr} {
		if ferr := forbidden(what, err); ferr != nil || errors.Is(err, kube.ErrNotFound) || kube.IsTransient(err) {
			t.Errorf("%v (not found: %v, transient: %v)", ferr, errors.Is(err, kube.ErrNotFound), kube.IsTransient(err))
		}
	}
}
