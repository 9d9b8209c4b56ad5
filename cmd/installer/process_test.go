package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
)

const testdata = "../../internal/install/chain/testdata"

// repairBound is the bound for putting things back.
const repairBound = 2 * time.Second

func TestInstallThenSIGTERMRestoresTheNode(t *testing.T) {
	n := newNode(t, filepath.Join(testdata, "calico/netd"))
	before := snapshot(t, n.netd)
	gke := filepath.Join(n.root, "home/kubernetes/bin")
	p := n.start(t, "--cni-bin-dirs="+n.bin+","+gke)
	n.waitReady(t)

	primary := filepath.Join(n.netd, "10-calico.conflist")
	if got, want := readFile(t, filepath.Join(gke, "mesh-cni")), readFile(t, n.source); got != want {
		t.Error("the second bin dir did not get a complete copy")
	}
	if !n.hasOurEntryLast(primary) {
		t.Errorf("no single entry of ours last in %s:\n%s", primary, mustRead(primary))
	}
	if !n.binaryOK() {
		t.Error("the installed binary is not a complete copy with mode 0755")
	}
	if err := n.ping(); err != nil {
		t.Errorf("the node agent does not answer on %s: %v", n.sock, err)
	}
	if st, err := os.Lstat(n.sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the agent socket is not root-only: %v %v", st.Mode(), err)
	}
	// The token stays in the pod: nothing on the host holds it, and the
	// run dir holds the socket and no file of credentials.
	if files := n.hostFilesWith(t, "token-one"); len(files) != 0 {
		t.Errorf("the service account token was written onto the host: %v", files)
	}
	if got := snapshot(t, n.run); len(got) != 2 || got["agent.sock"] != socketLabel || got[journal.DirName] != dirLabel {
		t.Errorf("run dir holds %v, want the agent socket and the plugin's journal only", keys(got))
	}
	// Ready means the agent watches this node's pods, with the token.
	if !n.api.asked("/api/v1/pods?", "fieldSelector=spec.nodeName="+nodeName, "watch=true") || !n.api.sawToken("token-one") {
		t.Errorf("the agent does not watch the pods of node %s with the pod's token: %v", nodeName, n.api.log())
	}
	if code, body := n.get("/metrics"); code != 200 || !strings.Contains(body, "mesh_cni_install_ready 1\n") {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	if code, _ := n.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	serves := `"msg":"the node agent serves the plugin","socket":"` + n.sock
	added := `"msg":"added mesh-cni to the CNI chain","file":"` + primary
	for _, line := range []string{`"msg":"copied the plugin binary","file":"` + filepath.Join(n.bin, "mesh-cni"), serves, added} {
		if !p.logs.has(line) {
			t.Errorf("logs lack %s", line)
		}
	}
	p.inOrder(t, serves, added)
	// The plugin's record of its netlink writer's comparison goes too.
	wireRecord := filepath.Join(n.run, apply.WireRecord)
	must(t, os.WriteFile(wireRecord, []byte("key\nequal\n"), 0o600))

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	// The entry goes while the agent still answers, and then the agent.
	p.inOrder(t, `"msg":"removed mesh-cni from the CNI chain","file":"`+primary, `"msg":"the node agent stopped"`)
	sameSnapshot(t, snapshot(t, n.netd), before)
	gone(t, filepath.Join(n.bin, "mesh-cni"), filepath.Join(gke, "mesh-cni"), n.sock, filepath.Join(n.run, "chain-state.json"), wireRecord)
}

func TestRepairs(t *testing.T) {
	n := newNode(t, filepath.Join(testdata, "calico/netd"))
	original := snapshot(t, n.netd)["10-calico.conflist"]
	p := n.start(t, "--fight-threshold=2", "--fight-window=1h")
	n.waitReady(t)
	primary := filepath.Join(n.netd, "10-calico.conflist")
	binary := filepath.Join(n.bin, "mesh-cni")

	t.Run("primary config rewritten by another CNI", func(t *testing.T) {
		must(t, os.WriteFile(primary, []byte(original), 0o644))
		eventually(t, repairBound, "our entry back in "+primary, func() bool { return n.hasOurEntryLast(primary) })
		eventually(t, repairBound, "reinstall counted", func() bool {
			_, body := n.get("/metrics")
			return strings.Contains(body, `mesh_cni_reinstalls_total{what="chain"} 1`)
		})
	})
	t.Run("binary deleted", func(t *testing.T) {
		must(t, os.Remove(binary))
		eventually(t, repairBound, "binary back", n.binaryOK)
	})
	t.Run("binary replaced", func(t *testing.T) {
		must(t, os.WriteFile(binary, []byte("#!/bin/sh\nexit 0\n"), 0o755))
		eventually(t, repairBound, "our binary back", n.binaryOK)
	})
	t.Run("token rotated", func(t *testing.T) {
		n.rotateToken(t, "token-two")
		// A pod the cache lacks is read from the API, with the new token.
		eventually(t, repairBound, "the API sees the new token", func() bool {
			n.getPod()
			return n.api.sawToken("token-two")
		})
		if files := n.hostFilesWith(t, "token-two"); len(files) != 0 {
			t.Errorf("the rotated token was written onto the host: %v", files)
		}
	})
	t.Run("agent socket deleted", func(t *testing.T) {
		must(t, os.Remove(n.sock))
		eventually(t, repairBound, "the agent answers again", func() bool { return n.ping() == nil })
		eventually(t, repairBound, "reinstall counted", func() bool {
			_, body := n.get("/metrics")
			return strings.Contains(body, `mesh_cni_reinstalls_total{what="agent-socket"} 1`)
		})
	})
	t.Run("another component keeps removing us", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			must(t, os.WriteFile(primary, []byte(original), 0o644))
			eventually(t, repairBound, "our entry back", func() bool { return n.hasOurEntryLast(primary) })
		}
		eventually(t, repairBound, "a warning naming the file and culprit", func() bool {
			return p.logs.has(`another component keeps removing mesh-cni from the CNI chain`) &&
				p.logs.has(`"file":"`+primary+`","removals":3`) && p.logs.has(`"likely_culprit":"calico-node's install-cni container"`)
		})
	})
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if got := readFile(t, primary); got != original {
		t.Errorf("primary config after uninstall:\n%s", got)
	}
}

func TestRewrittenConfIsConvertedAgain(t *testing.T) {
	n := newNode(t, filepath.Join(testdata, "bridge-conf/netd"))
	before := snapshot(t, n.netd)
	p := n.start(t)
	n.waitReady(t)
	conf, list := filepath.Join(n.netd, "10-bridge.conf"), filepath.Join(n.netd, "10-bridge.conflist")
	gone(t, conf)
	must(t, os.WriteFile(conf, []byte(before["10-bridge.conf"]), 0o644))
	eventually(t, repairBound, ".conf converted again", func() bool {
		_, err := os.Stat(conf)
		return os.IsNotExist(err) && n.hasOurEntryLast(list)
	})
	p.stop(t, syscall.SIGTERM)
	sameSnapshot(t, snapshot(t, n.netd), before)
}

func TestWaitsForAPrimaryConfig(t *testing.T) {
	n := newNode(t, "")
	p := n.start(t, "--cni-conf-name=10-kindnet.conflist")
	eventually(t, 10*time.Second, "waiting logged", func() bool { return p.logs.has("waiting for the primary CNI to write its config") })
	if code, body := n.get("/readyz"); code != 503 || !strings.Contains(body, n.netd) {
		t.Errorf("/readyz before any primary config = %d %q, want 503 naming %s", code, body, n.netd)
	}
	// A file that is not the named one must not be taken.
	other := filepath.Join(n.netd, "05-cilium.conflist")
	must(t, os.WriteFile(other, []byte(readFile(t, filepath.Join(testdata, "cilium/netd/05-cilium.conflist"))), 0o644))
	kindnet := readFile(t, filepath.Join(testdata, "kindnet/netd/10-kindnet.conflist"))
	must(t, os.WriteFile(filepath.Join(n.netd, "10-kindnet.conflist"), []byte(kindnet), 0o644))
	n.waitReady(t)
	if !n.hasOurEntryLast(filepath.Join(n.netd, "10-kindnet.conflist")) || strings.Contains(mustRead(other), "mesh-cni") {
		t.Error("the entry is not in the named file only")
	}
	p.stop(t, syscall.SIGTERM)
	if got := readFile(t, filepath.Join(n.netd, "10-kindnet.conflist")); got != kindnet {
		t.Errorf("kindnet config after uninstall:\n%s", got)
	}
}

// TestSecondStartOverAPreviousInstall is the rolling upgrade: the old
// installer leaves everything (skip-cleanup), the new one takes over.
func TestSecondStartOverAPreviousInstall(t *testing.T) {
	n := newNode(t, filepath.Join(testdata, "bridge-conf/netd"))
	before := snapshot(t, n.netd)
	first := n.start(t, "--skip-cleanup")
	n.waitReady(t)
	first.stop(t, syscall.SIGTERM)
	list := filepath.Join(n.netd, "10-bridge.conflist")
	if !n.hasOurEntryLast(list) || !n.binaryOK() {
		t.Fatal("skip-cleanup did not leave the install in place")
	}
	// The agent stops all the same: until the next one serves, the
	// plugin tells the runtime to try again later.
	gone(t, n.sock)
	second := n.start(t)
	n.waitReady(t)
	if err := n.ping(); err != nil {
		t.Errorf("the second installer's agent does not answer: %v", err)
	}
	if !n.hasOurEntryLast(list) {
		t.Errorf("after the second start:\n%s", mustRead(list))
	}
	if second.logs.has("added mesh-cni") || second.logs.has("copied the plugin binary") {
		t.Error("the second installer rewrote an install that was already complete")
	}
	second.stop(t, syscall.SIGTERM)
	sameSnapshot(t, snapshot(t, n.netd), before)
}

// TestRefusesUnknownPluginSettings: a misspelt key in the ConfigMap's
// plugin settings stops the installer before it writes anything, so the
// entry the plugin would only warn about never reaches the node.
func TestRefusesUnknownPluginSettings(t *testing.T) {
	n := newNode(t, filepath.Join(testdata, "flannel/netd"))
	before := snapshot(t, n.netd)
	cfg := filepath.Join(n.root, "plugin.json")
	must(t, os.WriteFile(cfg, []byte(`{"profile":"osm-v0","meshNamepsace":"osm"}`), 0o644))
	out, err := n.command("--plugin-config=" + cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), `unknown field \"meshNamepsace\"`) {
		t.Errorf("err %v, output:\n%s", err, out)
	}
	gone(t, filepath.Join(n.bin, "mesh-cni"))
	sameSnapshot(t, snapshot(t, n.netd), before)
}

func TestHelpDocumentsEveryVariable(t *testing.T) {
	out, err := exec.Command(installerBin, "--help").CombinedOutput()
	must(t, err)
	for _, v := range []string{"MESH_CNI_BIN_DIRS", "MESH_CNI_CONF_DIR", "CNI_CONF_NAME", "MESH_CNI_RUN_DIR", "MESH_CNI_PLUGIN_CONFIG",
		"MESH_CNI_SKIP_CLEANUP", "MESH_CNI_LISTEN_ADDRESS", "KUBERNETES_SERVICE_HOST", "MESH_CNI_PLUGIN_SOURCE", "MESH_CNI_NODE_NAME"} {
		if !strings.Contains(string(out), v) {
			t.Errorf("--help lacks %s", v)
		}
	}
}

// TestSkipCleanupFileIsReadAtShutdown flips the file after the start, as an
// operator flips the ConfigMap key before a rolling upgrade.
func TestSkipCleanupFileIsReadAtShutdown(t *testing.T) {
	n := newNode(t, filepath.Join(testdata, "flannel/netd"))
	flagFile := filepath.Join(n.root, "skip-cleanup")
	must(t, os.WriteFile(flagFile, []byte("false\n"), 0o644))
	p := n.start(t, "--skip-cleanup-file="+flagFile)
	n.waitReady(t)
	must(t, os.WriteFile(flagFile, []byte("true\n"), 0o644))
	p.stop(t, syscall.SIGTERM)
	if !n.hasOurEntryLast(filepath.Join(n.netd, "10-flannel.conflist")) || !n.binaryOK() {
		t.Error("the install was removed although the skip-cleanup file said true")
	}
	gone(t, n.sock)
	if !p.logs.has(`"reason":"` + flagFile + ` says true"`) {
		t.Error("the log does not say why the install was left in place")
	}
}

// TestRefusesToStartWithoutItsSettings: without a node name or the pod's
// API credentials the agent could answer nothing, so the installer exits
// before it touches the node.
func TestRefusesToStartWithoutItsSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		change   func(n *node)
		args     []string
		code     int
		wantText string
	}{
		{"no node name", func(*node) {}, []string{"--node-name="}, 2, "--node-name (MESH_CNI_NODE_NAME) must be set"},
		{"no API address", func(n *node) { n.apiHost = "" }, nil, 1, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"},
		{"no token", func(n *node) { must(t, os.Remove(filepath.Join(n.sa, "..data", "token"))) }, nil, 1, "reading " + "SA/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, filepath.Join(testdata, "flannel/netd"))
			tc.change(n)
			out, err := n.command(tc.args...).CombinedOutput()
			want := strings.ReplaceAll(tc.wantText, "SA/", n.sa+"/")
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != tc.code || !strings.Contains(string(out), want) {
				t.Errorf("err %v, want exit code %d and %q in the output:\n%s", err, tc.code, want, out)
			}
			gone(t, filepath.Join(n.bin, "mesh-cni"), n.run)
		})
	}
}
