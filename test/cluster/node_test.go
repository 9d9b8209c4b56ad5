package cluster

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

func TestNode(t *testing.T) {
	hostBefore := HostListing()
	start := time.Now()
	n := StartNode(t)
	t.Logf("StartNode took %.1fs", time.Since(start).Seconds())
	applied := time.Now()

	// Two pods on the bridge network; b reaches a over TCP; both reach the
	// apiserver through kube-proxy's ClusterIP rules.
	n.Apply(t, `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: web, image: `+AppImage+`, imagePullPolicy: Never, command: ["/bin/sh", "-c", "httpd -f -p 8080 -h /etc"]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: `+AppImage+`, imagePullPolicy: Never, command: ["/bin/sleep", "3600"]}
`)
	n.Kubectl(t, "rollout", "status", "daemonset/web", "--timeout=90s")
	n.Kubectl(t, "wait", "--for=condition=Ready", "pod/client", "--timeout=90s")
	t.Logf("DaemonSet pod and pod Ready %.1fs after kubectl apply", time.Since(applied).Seconds())

	webIP := strings.Trim(n.Kubectl(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"), "'")
	if _, podNet, _ := net.ParseCIDR(n.PodCIDR); !podNet.Contains(net.ParseIP(webIP)) {
		t.Fatalf("pod IP %q not in %s", webIP, n.PodCIDR)
	}
	got := n.Kubectl(t, "exec", "client", "--", "sh", "-c", "printf 'GET /group HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+webIP+" 8080")
	if !strings.Contains(got, "proxy:x:1500:") {
		t.Errorf("client -> web:8080: got %q", got)
	}
	routes := n.Kubectl(t, "exec", "client", "--", "ip", "route")
	if strings.Contains(routes, "default") {
		t.Errorf("pod has a default route:\n%s", routes)
	}
	// The service account token is mounted (token controller) and the
	// kubernetes Service routes to the apiserver (kube-proxy).
	status := n.Kubectl(t, "exec", "client", "--", "sh", "-c",
		"test -s /var/run/secrets/kubernetes.io/serviceaccount/token && printf 'GET /livez HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.96.0.1 443 | head -c 300; true")
	t.Logf("client -> 10.96.0.1:443 (plain HTTP to a TLS port, any answer proves routing): %q", status)
	if !strings.Contains(status, "HTTP/1.0 400") {
		t.Errorf("no answer from the apiserver through the kubernetes Service: %q", status)
	}

	n.Kubectl(t, "delete", "pod", "client", "--wait=true", "--timeout=60s")
	// What the plugin leaves in the run dir when the node is killed
	// rather than its installer stopped: tear-down takes it away too.
	if err := os.MkdirAll(meshCNIRunDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meshCNIRunDir, apply.WireRecord), []byte("key\nequal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := TearDownNode(t.Logf); err != nil {
		t.Fatal(err)
	}
	if left := Leftovers(); len(left) > 0 {
		t.Errorf("left behind after TearDownNode:\n%s", strings.Join(left, "\n"))
	}
	if after := HostListing(); after != hostBefore {
		t.Errorf("host directories not as they were:\nbefore: %s\nafter:  %s", hostBefore, after)
	}
}
