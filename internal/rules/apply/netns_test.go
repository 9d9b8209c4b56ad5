package apply

import (
	"os"
	"os/exec"
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
	target, nss := p.inNetnsFiles(t, strings.Repeat("passwd: ldap\n", 20))
	want := strings.TrimSpace(p.Run(t, "readlink", "/proc/self/ns/net"))
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

// TestInNetnsReturnsAPanic checks that a panic on the worker thread (in
// Apply, Verify or Cleanup, say while parsing iptables-save output) comes
// back as an error naming it, not as a crash of the whole plugin: the
// plugin's recover covers only the calling goroutine.
func TestInNetnsReturnsAPanic(t *testing.T) {
	requireIptables(t)
	netns, nss := newPod(t).inNetnsFiles(t, "")
	err := inNetns(netns, nss, func() error {
		var table map[string]int
		table["nat"]++ // a nil map: a real runtime panic, not a staged one
		return nil
	})
	if err == nil {
		t.Fatal("inNetns returned no error for a panic")
	}
	for _, want := range []string{"panic: assignment to entry in nil map", "TestInNetnsReturnsAPanic"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines, which a log line cannot carry whole: %q", err)
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
