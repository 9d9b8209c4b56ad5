//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// Environment variables that point the suite at a cluster it did not start
// (test/e2e/kind.sh sets them). Without MESH_CNI_E2E_KUBECONFIG the suite
// starts test/cluster's single node on this machine, which is then the node.
const (
	envKubeconfig = "MESH_CNI_E2E_KUBECONFIG"
	// envNodeShell is a command prefix that runs its last argument with
	// `sh -c` on the (single) node, e.g. "docker exec -i kind-control-plane".
	envNodeShell = "MESH_CNI_E2E_NODE_SHELL"
	// envLoadImage is a command that loads the image tarball given as its
	// last argument onto every node, e.g. "kind load image-archive --name x".
	envLoadImage = "MESH_CNI_E2E_LOAD_IMAGE"
)

// env is the cluster under test and how to reach it.
type env struct {
	repo       string
	kubeconfig string
	kubectlBin string
	// path is PATH for the guide's commands: kubectl and jq must resolve as
	// they do for the suite.
	path string
	// nodeShell prefixes "sh -c CMD" to run it on the node; empty: here.
	nodeShell []string
	load      func(t *testing.T, tarPath string)
	// external: the suite did not start the cluster, so it removes what it
	// created itself.
	external bool
	// helmBin is build.sh's Helm (on a cluster the suite did not start,
	// the one on PATH); kubeletRoot is the node's kubelet --root-dir.
	helmBin, kubeletRoot string
}

// newEnv starts the local node (or connects to the cluster of
// MESH_CNI_E2E_KUBECONFIG). It fails the test - never skips - when it cannot.
func newEnv(t *testing.T) *env {
	repo, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{repo: repo, path: os.Getenv("PATH")}
	if kc := os.Getenv(envKubeconfig); kc != "" {
		e.kubeconfig, e.external = kc, true
		e.nodeShell = strings.Fields(os.Getenv(envNodeShell))
		loader := strings.Fields(os.Getenv(envLoadImage))
		if len(e.nodeShell) == 0 || len(loader) == 0 {
			t.Fatalf("%s is set: %s and %s must be set too (see test/e2e/kind.sh)", envKubeconfig, envNodeShell, envLoadImage)
		}
		e.load = func(t *testing.T, tar string) {
			if out, err := exec.Command(loader[0], append(loader[1:], tar)...).CombinedOutput(); err != nil {
				t.Fatalf("loading %s with %v: %v\n%s", tar, loader, err, out)
			}
		}
		if e.kubectlBin, err = exec.LookPath("kubectl"); err != nil {
			t.Fatalf("no kubectl on PATH: %v", err)
		}
		if e.helmBin, err = exec.LookPath("helm"); err != nil {
			t.Fatalf("no helm on PATH (test/tools/build.sh helm builds one): %v", err)
		}
		e.kubeletRoot = "/var/lib/kubelet"
		return e
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the e2e suite starts a Kubernetes node on this machine and must run as root (or set %s)", envKubeconfig)
	}
	bins, err := cluster.EnsureBinaries()
	if err != nil {
		t.Fatalf("building the node's binaries: %v", err)
	}
	start := time.Now()
	node := cluster.StartNode(t)
	t.Logf("local node up in %.1fs (KUBECONFIG=%s)", time.Since(start).Seconds(), node.AdminKubeconfig)
	e.kubeconfig = node.AdminKubeconfig
	e.helmBin, e.kubeletRoot = bins.HelmBin, cluster.KubeletRoot
	e.load = func(t *testing.T, tar string) { node.ImportImage(t, tar) }
	// As test/cluster does: the installed kubectl, else build.sh's.
	e.path += string(os.PathListSeparator) + bins.KubeBinDir
	if e.kubectlBin, err = lookPath("kubectl", e.path); err != nil {
		t.Fatal(err)
	}
	return e
}

func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s in %s", name, path)
}

// kubectl runs kubectl against the cluster and returns its stdout, or an
// error carrying its stderr.
func (e *env) kubectl(args ...string) (string, error) {
	return e.kubectlStdin("", args...)
}

// kubectlFunc is kubectlStdin as a cluster.KubectlFunc, for the shared
// helpers of test/podcheck and test/osmhost.
func (e *env) kubectlFunc(stdin []byte, args ...string) (string, error) {
	return e.kubectlStdin(string(stdin), args...)
}

func (e *env) kubectlStdin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(e.kubectlBin, append([]string{"--request-timeout=60s"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	cmd.Dir = e.repo
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// must runs kubectl and fails the test if it fails.
func (e *env) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// create runs kubectl create on the manifest: unlike apply it adds no
// last-applied annotation, which the guide's annotation command would show.
func (e *env) create(t *testing.T, manifest string) {
	t.Helper()
	if _, err := e.kubectlStdin(manifest, "create", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, manifest)
	}
}

// apply runs kubectl apply on the manifest.
func (e *env) apply(t *testing.T, manifest string) {
	t.Helper()
	if _, err := e.kubectlStdin(manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, manifest)
	}
}

// shell runs a command line with sh -c the way a person following the guide
// would: KUBECONFIG set, PATH as the suite's. onNode runs it on the node
// (here, for the local node). It returns stdout and stderr interleaved.
func (e *env) shell(cmdline string, onNode bool) (string, error) {
	return e.shellIn(cmdline, onNode, nil)
}

// shellIn is shell with stdin (nil: none): the way to hand a file to the
// node of a cluster the suite did not start.
func (e *env) shellIn(cmdline string, onNode bool, stdin io.Reader) (string, error) {
	argv := []string{"sh", "-c", cmdline}
	if onNode && len(e.nodeShell) > 0 {
		argv = append(append([]string{}, e.nodeShell...), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = e.repo
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "PATH="+e.path)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// nodeFile returns a file of the node (a glob is expanded there), failing the
// test if it cannot be read.
func (e *env) nodeFile(t *testing.T, pattern string) string {
	t.Helper()
	out, err := e.shell("cat "+pattern, true)
	if err != nil {
		t.Fatalf("reading %s on the node: %v: %s", pattern, err, out)
	}
	return out
}

// nodeHas says whether a path exists on the node.
func (e *env) nodeHas(t *testing.T, path string) bool {
	t.Helper()
	out, err := e.shell("if [ -e "+path+" ]; then echo yes; else echo no; fi", true)
	if err != nil {
		t.Fatalf("looking for %s on the node: %v: %s", path, err, out)
	}
	return strings.TrimSpace(out) == "yes"
}
