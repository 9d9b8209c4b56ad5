package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgramsSeeMinimalNSSwitch checks what the iptables programs run
// with: the pod's network namespace, and an /etc/nsswitch.conf that sends
// user lookups to local files only - while the host's file stays as it was
// (the bind mount must not propagate out of the private mount namespace).
// The file shown is the lock file, here one that a killed mesh-cni left
// holding more than minimalNSSwitch: it must hold exactly that.
func TestProgramsSeeMinimalNSSwitch(t *testing.T) {
	requireIptables(t)
	hostBefore, err := os.ReadFile(nsswitchPath)
	if err != nil {
		t.Fatalf("this test needs %s: %v", nsswitchPath, err)
	}
	p := newPod(t)
	lockFile := filepath.Join(p.lockDir, "netns.lock")
	if err := os.WriteFile(lockFile, []byte(strings.Repeat("passwd: ldap\n", 20)), 0o600); err != nil {
		t.Fatal(err)
	}
	nss, err := os.OpenFile(lockFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer nss.Close()
	want := strings.TrimSpace(p.Run(t, "readlink", "/proc/self/ns/net"))
	// The pod's namespace by its path, as the plugin passes CNI_NETNS:
	// the worker thread enters it from the test's own namespace.
	target, err := os.Open(p.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	var seen, netns string
	err = inNetns(target, nss, func() error {
		b, err := exec.Command("cat", nsswitchPath).Output()
		if err != nil {
			return err
		}
		seen = string(b)
		b, err = exec.Command("readlink", "/proc/self/ns/net").Output()
		netns = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != minimalNSSwitch {
		t.Errorf("programs see %s as\n%s\nwant\n%s", nsswitchPath, seen, minimalNSSwitch)
	}
	if netns != want {
		t.Errorf("programs run in network namespace %s, want the pod's %s", netns, want)
	}
	hostAfter, err := os.ReadFile(nsswitchPath)
	if err != nil || string(hostAfter) != string(hostBefore) {
		t.Errorf("the host's %s changed: %v\n%s", nsswitchPath, err, hostAfter)
	}
}

func TestExplainQuotesTheFailingLine(t *testing.T) {
	tests := []struct {
		name, stderr, doc, want string
	}{
		{"no line", "iptables-restore: line 3 failed\n", "*nat\n", "iptables-restore: line 3 failed"},
		{"line quoted", "ip6tables-restore v1.8.9 (legacy): Couldn't load match `x'\n\nError occurred at line: 2\nTry `ip6tables-restore -h' for more information.\n",
			"*nat\n-A X -m x\nCOMMIT\n", "ip6tables-restore v1.8.9 (legacy): Couldn't load match `x'; Error occurred at line: 2 (\"-A X -m x\")"},
		{"line out of range", "Error occurred at line: 9\n", "*nat\n", "Error occurred at line: 9"},
		{"no line number", "Error occurred at line: x\n", "*nat\n", "Error occurred at line: x"},
		{"number then text", "Error occurred at line: 2 of 3\n", "*nat\n-A X\nCOMMIT\n", "Error occurred at line: 2 of 3 (\"-A X\")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := explain(tt.stderr, tt.doc); got != tt.want {
				t.Errorf("explain = %q, want %q", got, tt.want)
			}
		})
	}
}
