//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/osmhost"
)

// injector is OSM's injector wherever it runs: a host process beside the
// local node (osmhost.Start) or a unit on a kind node (startNodeInjector).
type injector interface {
	Stop() error
	LogTail(n int) string
}

// On a cluster the suite did not start, the injector runs on the (control
// plane) node, as a transient systemd unit reaching the API server with
// kubeadm's admin kubeconfig: the API server finds its webhook at localhost
// there, as it does on the local node.
const (
	nodeInjectorUnit   = "mesh-cni-e2e-osm-injector"
	nodeInjectorBinary = "/usr/local/bin/osm-injector"
	nodeKubeconfig     = "/etc/kubernetes/admin.conf"
)

// nodeInjector is the injector's unit on the node.
type nodeInjector struct{ s *suite }

// startNodeInjector copies build.sh's injector onto the node, applies what
// it needs (osmhost.Prepare), starts it with osmhost.Command's flags and
// waits until it serves and has written its webhook configuration.
func (s *suite) startNodeInjector(t *testing.T, o osmhost.Options) injector {
	t.Helper()
	if err := osmhost.Prepare(s.kubectlFunc, o); err != nil {
		t.Fatalf("preparing OSM's injector: %v", err)
	}
	bin, err := os.Open(filepath.Join(o.OSMDir, "osm-injector"))
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	if out, err := s.shellIn(fmt.Sprintf("cat >%[1]s.tmp && chmod 755 %[1]s.tmp && mv %[1]s.tmp %[1]s", nodeInjectorBinary), true, bin); err != nil {
		t.Fatalf("copying osm-injector to the node: %v: %s", err, out)
	}
	env, argv := osmhost.Command(o, nodeInjectorBinary, nodeKubeconfig)
	run := []string{"systemd-run", "--unit=" + nodeInjectorUnit, "--collect"}
	for _, kv := range env {
		run = append(run, "--setenv="+kv)
	}
	if out, err := s.shell(strings.Join(append(run, argv...), " "), true); err != nil {
		t.Fatalf("starting osm-injector on the node: %v: %s", err, out)
	}
	inj := nodeInjector{s}
	if err := inj.wait(90 * time.Second); err != nil {
		_ = inj.Stop()
		t.Fatal(err)
	}
	return inj
}

// Stop removes OSM's webhook configuration first (failurePolicy Fail, and
// the injector never removes it), then stops the unit.
func (n nodeInjector) Stop() error {
	_, werr := n.s.kubectl("delete", "mutatingwebhookconfiguration", osmhost.WebhookConfig, "--ignore-not-found")
	// A unit that failed is gone already (--collect): stopping it fails.
	stop := fmt.Sprintf("systemctl stop %[1]s 2>/dev/null; rm -f %[2]s; ! systemctl is-active --quiet %[1]s", nodeInjectorUnit, nodeInjectorBinary)
	if out, err := n.s.shell(stop, true); err != nil {
		return fmt.Errorf("stopping %s on the node: %w: %s", nodeInjectorUnit, err, out)
	}
	return werr
}

// LogTail is the last n lines of the unit's journal.
func (n nodeInjector) LogTail(lines int) string {
	out, _ := n.s.shell(fmt.Sprintf("journalctl --no-pager -o cat -n %d -u %s", lines, nodeInjectorUnit), true)
	return out
}

// healthz asks the injector's /healthz on the node (bash's /dev/tcp: the
// node needs no HTTP client) for its status line.
const healthz = `bash -c 'exec 3<>/dev/tcp/127.0.0.1/9091 && printf "GET /healthz HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3'`

func (n nodeInjector) wait(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, herr := n.s.shell(healthz, true)
		_, werr := n.s.kubectl("get", "mutatingwebhookconfiguration", osmhost.WebhookConfig)
		if herr == nil && strings.Contains(status, " 200 ") && werr == nil {
			return nil
		}
		if active, _ := n.s.shell("systemctl is-active "+nodeInjectorUnit, true); strings.TrimSpace(active) != "active" || time.Now().After(deadline) {
			return fmt.Errorf("osm-injector on the node not serving (healthz %q %v, webhook configuration: %v, unit %s); its log:\n%s",
				strings.TrimSpace(status), herr, werr, strings.TrimSpace(active), n.LogTail(40))
		}
		time.Sleep(time.Second)
	}
}
