package main

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// apiBound is how long the agent may take to pick up a rotated token and
// answer with it: the rotation's file events, a sync, and the API's answer
// (with a watch-backed reader, a relist too).
const apiBound = 10 * time.Second

// TestAgentReadsTheAPI runs the installer against a real kube-apiserver
// with deploy/'s RBAC and the service account files a pod would have. It
// starts with a token the API refuses and rotates to a good one: the agent
// answers with the new token, without a restart and without writing it
// anywhere on the host. The event the plugin hands over reaches the API.
func TestAgentReadsTheAPI(t *testing.T) {
	cp := cluster.StartControlPlane(t)
	kc := cp.ServiceAccountKubeconfig(t, "mesh-cni", "mesh-cni")
	cp.ApplyDeployRBAC(t)
	cp.InstallMeshConfigCRD(t)
	cp.Apply(t, `apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: v1
kind: Pod
metadata:
  name: app
  namespace: apps
  annotations:
    openservicemesh.io/sidecar-injection: enabled
spec:
  nodeName: `+nodeName+`
  containers:
  - name: app
    image: app
  - name: envoy
    image: envoy
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: osm-config
  namespace: osm-system
data:
  permissive_traffic_policy_mode: "true"
`)
	cfg, err := kube.LoadKubeconfig(kc)
	must(t, err)
	ca, err := os.ReadFile(cp.CAFile)
	must(t, err)
	u, err := url.Parse(cp.Server)
	must(t, err)

	n := newNode(t, filepath.Join(testdata, "flannel/netd"))
	n.apiHost, n.apiPort = u.Hostname(), u.Port()
	n.rotate(t, "not-a-token", ca)
	p := n.start(t)
	eventually(t, 10*time.Second, "the agent answers", func() bool { return n.ping() == nil })
	if _, err := n.getPod(); !agent.IsTransient(err) || !strings.Contains(err.Error(), "401") {
		t.Errorf("with a refused token: %v, want a transient 401", err)
	}

	n.rotate(t, cfg.Token, ca)
	var pod *object.Pod
	eventually(t, apiBound, "the pod read with the rotated token", func() bool {
		pod, err = n.getPod()
		return err == nil
	})
	if pod.Metadata.Name != "app" || len(pod.Spec.Containers) != 2 || pod.Metadata.Annotations["openservicemesh.io/sidecar-injection"] != "enabled" {
		t.Errorf("pod %+v", pod)
	}
	n.waitReady(t)
	if files := n.hostFilesWith(t, cfg.Token); len(files) != 0 {
		t.Errorf("the service account token was written onto the host: %v", files)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := agent.Dial(ctx, n.sock)
	must(t, err)
	defer c.Close()
	cm, err := c.GetConfigMap(ctx, "osm-system", "osm-config")
	if err != nil || cm.Data["permissive_traffic_policy_mode"] != "true" {
		t.Errorf("ConfigMap %+v, %v", cm, err)
	}
	if _, err := c.GetMeshConfig(ctx, "osm-system", "osm-mesh-config"); !errors.Is(err, object.ErrNotFound) {
		t.Errorf("a missing MeshConfig: %v, want not found", err)
	}
	must(t, c.CreateEvent(ctx, object.Event{Namespace: "apps", PodName: "app", PodUID: pod.Metadata.UID,
		Reason: "RedirectionConfigured", Message: "from the agent test", Type: object.EventNormal, Component: "mesh-cni", Host: nodeName}))
	eventually(t, apiBound, "the event recorded", func() bool {
		out, _ := cp.TryKubectl("get", "events", "-n", "apps", "--field-selector=involvedObject.name=app", "-o", "name")
		return strings.TrimSpace(out) != ""
	})

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
	gone(t, n.sock)

	t.Run("installer agent", func(t *testing.T) { testAgentCommand(t, cp, kc) })
}

// testAgentCommand runs `installer agent`, the agent alone with a
// kubeconfig, as the README's "Try it without a cluster" does: it answers
// the plugin's questions and removes its socket when stopped. It keeps up
// its node as the installer's agent does: a pod whose validation failed
// is deleted, and the node's mesh-cni taint goes.
func testAgentCommand(t *testing.T, cp *cluster.ControlPlane, kubeconfig string) {
	cp.Apply(t, `apiVersion: v1
kind: Node
metadata:
  name: `+nodeName+`
spec:
  taints: [{key: mesh-cni.io/not-ready, value: "true", effect: NoSchedule}]
---
apiVersion: v1
kind: Pod
metadata:
  name: failed
  namespace: apps
  labels: {osm-proxy-uuid: 0c1a}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: 6d1a3c52-0000-4000-8000-000000000001, controller: true}]
spec:
  nodeName: `+nodeName+`
  initContainers: [{name: mesh-cni-validation, image: mesh-cni}]
  containers: [{name: app, image: app}, {name: envoy, image: envoy}]
`)
	cp.Kubectl(t, "patch", "pod", "-n", "apps", "failed", "--subresource=status", "--type=merge", "-p",
		`{"status":{"initContainerStatuses":[{"name":"mesh-cni-validation","image":"mesh-cni","imageID":"","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":42}}}]}}`)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(installerBin, "agent", "--kubeconfig", kubeconfig, "--node-name", nodeName, "--socket", sock, "--run-dir", dir)
	var logs strings.Builder
	cmd.Stderr = &logs
	must(t, cmd.Start())
	n := &node{sock: sock}
	var pod *object.Pod
	var err error
	eventually(t, apiBound, "the pod read through `installer agent`", func() bool {
		pod, err = n.getPod()
		return err == nil
	})
	if pod.Metadata.Name != "app" || len(pod.Spec.Containers) != 2 {
		t.Errorf("pod %+v", pod)
	}
	eventually(t, apiBound, "the failed pod's deletion and the taint's removal", func() bool {
		// Gone, or being deleted (no kubelet finishes the job).
		pod, perr := cp.TryKubectl("get", "pod", "-n", "apps", "failed", "-o", "jsonpath={.metadata.name}/{.metadata.deletionTimestamp}", "--ignore-not-found")
		taints, terr := cp.TryKubectl("get", "node", nodeName, "-o", "jsonpath={.spec.taints[*].key}")
		return perr == nil && terr == nil && strings.TrimSpace(pod) != "failed/" && !strings.Contains(taints, "mesh-cni.io/not-ready")
	})
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if err := cmd.Wait(); err != nil {
		t.Errorf("installer agent after SIGTERM: %v\n%s", err, logs.String())
	}
	gone(t, sock)
	if !strings.Contains(logs.String(), "the node agent serves the plugin") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// getPod reads the test pod through the agent, as the plugin does.
func (n *node) getPod() (*object.Pod, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := agent.Dial(ctx, n.sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.GetPod(ctx, "apps", "app", "")
}
