package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// KubectlPath is the kubectl the cluster's helpers run: the installed one,
// else the one build.sh built into the cache where there was none.
func (cp *ControlPlane) KubectlPath() string {
	if _, err := os.Stat("/usr/bin/kubectl"); err == nil {
		return "/usr/bin/kubectl"
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	return cp.bins.Kube("kubectl")
}

// TryKubectl runs kubectl with the admin kubeconfig and returns its stdout, or
// an error carrying its stderr. Use it where failure is the expected outcome.
func (cp *ControlPlane) TryKubectl(args ...string) (string, error) {
	return cp.KubectlStdin(nil, args...)
}

// KubectlStdin is TryKubectl with stdin (unless nil); it is a KubectlFunc.
func (cp *ControlPlane) KubectlStdin(stdin []byte, args ...string) (string, error) {
	// A private discovery cache: ports are reused across runs with different CRDs.
	full := append([]string{"--kubeconfig=" + cp.AdminKubeconfig, "--cache-dir=" + filepath.Join(cp.Dir, "kubectl-cache"), "--request-timeout=30s"}, args...)
	cmd := exec.Command(cp.KubectlPath(), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Kubectl runs kubectl with the admin kubeconfig and returns its stdout; it
// fails the test if kubectl fails.
func (cp *ControlPlane) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := cp.TryKubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Apply runs kubectl apply on the given YAML (one or more documents); it fails
// the test if kubectl fails.
func (cp *ControlPlane) Apply(t testing.TB, yaml string) {
	t.Helper()
	if _, err := cp.KubectlStdin([]byte(yaml), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// ServiceAccountKubeconfig creates the namespace (if missing) and the
// ServiceAccount namespace/name, gets a token for it through the TokenRequest
// API and returns the path of a kubeconfig using that token. The account has
// no permissions until the test binds some (e.g. by applying deploy/ RBAC).
func (cp *ControlPlane) ServiceAccountKubeconfig(t testing.TB, namespace, name string) string {
	t.Helper()
	cp.Apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n"+
		"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\n  namespace: %s\n", namespace, name, namespace))
	token := strings.TrimSpace(cp.Kubectl(t, "create", "token", name, "-n", namespace, "--duration=24h"))
	path := filepath.Join(cp.Dir, fmt.Sprintf("sa-%s-%s.kubeconfig", namespace, name))
	if err := writeKubeconfig(path, cp.Server, cp.CAFile, kubeCred{user: namespace + "-" + name, token: token}); err != nil {
		t.Fatal(err)
	}
	return path
}

// MeshConfigCRD is the OSM MeshConfig CustomResourceDefinition as far as
// mesh-cni reads it: v1alpha1 and v1alpha2 served (v1alpha2 stored), spec kept
// as given.
var MeshConfigCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: meshconfigs.config.openservicemesh.io
spec:
  group: config.openservicemesh.io
  scope: Namespaced
  names:
    kind: MeshConfig
    listKind: MeshConfigList
    plural: meshconfigs
    singular: meshconfig
    shortNames: [meshconfig]
  versions:
` + crdVersion("v1alpha1", false) + crdVersion("v1alpha2", true)

func crdVersion(name string, storage bool) string {
	return fmt.Sprintf(`  - name: %s
    served: true
    storage: %t
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`, name, storage)
}

// InstallMeshConfigCRD applies MeshConfigCRD and waits until it is Established
// and both versions are served, so a MeshConfig can be created right after.
func (cp *ControlPlane) InstallMeshConfigCRD(t testing.TB) {
	t.Helper()
	if err := InstallMeshConfigCRDWith(cp.KubectlStdin); err != nil {
		t.Fatal(err)
	}
}

// KubectlFunc runs kubectl with these arguments (and stdin, unless empty)
// against some cluster and returns its stdout.
type KubectlFunc func(stdin []byte, args ...string) (string, error)

// InstallMeshConfigCRDWith is InstallMeshConfigCRD for any cluster: kubectl
// runs the commands.
func InstallMeshConfigCRDWith(kubectl KubectlFunc) error {
	if _, err := kubectl([]byte(MeshConfigCRD), "apply", "-f", "-"); err != nil {
		return err
	}
	if _, err := kubectl(nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/meshconfigs.config.openservicemesh.io"); err != nil {
		return err
	}
	// Established can precede discovery by a moment; kubectl apply needs discovery.
	deadline := time.Now().Add(30 * time.Second)
	for _, v := range []string{"v1alpha1", "v1alpha2"} {
		for {
			_, err := kubectl(nil, "get", "meshconfigs."+v+".config.openservicemesh.io", "-A")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("MeshConfig CRD established but %s not served: %w", v, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}
