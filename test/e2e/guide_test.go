package e2e

import (
	"os"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"test-58d4f8ff58-wtz4f   2/2     Running   0          32s", "test-58d4f8ff58-wtz4f 2/2 Running 0 <age>"},
		{"  Normal  RedirectionConfigured  2m3s   mesh-cni  msg", "Normal RedirectionConfigured <age> mesh-cni msg"},
		{"mesh-cni 1 1 1 1 1 kubernetes.io/os=linux 5m", "mesh-cni 1 1 1 1 1 kubernetes.io/os=linux <age>"},
		{"a 3d4h 12h", "a <age> <age>"},
		// Not ages: inside words, ports, versions.
		{"--dport 15001 osm-v0 10s-ago s3m", "--dport 15001 osm-v0 10s-ago s3m"},
		{"init: ", "init:"},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	out := "Name: p\nNamespace: test\nLabels: x\nEvents:\n  Normal  Started  5s  kubelet  Started\n  Normal  RedirectionConfigured  6s  mesh-cni  done\n"
	for _, tc := range []struct {
		name     string
		expected []string
		actual   string
		ok       bool
	}{
		{"exact", []string{"NAME   AGE", "p      32s"}, "NAME AGE\np 4m\n", true},
		{"extra line at end", []string{"NAME   AGE", "p      32s"}, "NAME AGE\np 4m\nq 1s\n", false},
		{"extra line at start", []string{"p 32s"}, "NAME AGE\np 4m\n", false},
		{"different value", []string{"p 2/2 Running"}, "p 1/2 Running\n", false},
		{"head and dots", []string{"Name: p", "Namespace: test", "...", "Events:", "...", "Normal RedirectionConfigured 33s mesh-cni done", "..."}, out, true},
		{"group must be consecutive", []string{"Name: p", "Labels: x", "..."}, out, false},
		{"order matters", []string{"...", "Events:", "...", "Name: p", "..."}, out, false},
		{"trailing anchored", []string{"...", "mesh-cni"}, "bridge\nportmap\nmesh-cni\n", true},
		{"trailing anchored, not last", []string{"...", "mesh-cni"}, "bridge\nmesh-cni\nportmap\n", false},
		{"only dots", []string{"..."}, "anything\n", true},
		{"only dots, no output", []string{"..."}, "", true},
		{"missing line", []string{"...", "nope", "..."}, out, false},
		{"trailing blank expected lines ignored", []string{"x", ""}, "x\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := Match(tc.expected, tc.actual)
			if (msg == "") != tc.ok {
				t.Errorf("Match = %q, want ok=%v", msg, tc.ok)
			}
		})
	}
}

func TestParseGuide(t *testing.T) {
	guide := "## A\n<!-- e2e-state: one -->\n```console\n# a comment\n$ cmd1\nout1\n...\n$ cmd2\n```\n" +
		"text\n```console\niptables -t nat -N X\n```\n<!-- e2e-state: two -->\n## B\n```console\n$ cmd3\n```\n"
	steps, err := ParseGuide(guide)
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Line: 5, Command: "cmd1", Expected: []string{"out1", "..."}, State: "one", Section: "A"},
		{Line: 8, Command: "cmd2", State: "one", Section: "A"},
		{Line: 17, Command: "cmd3", State: "two", Section: "B"},
	}
	if len(steps) != len(want) {
		t.Fatalf("got %d steps %+v, want %d", len(steps), steps, len(want))
	}
	for i := range want {
		g, w := steps[i], want[i]
		if g.Line != w.Line || g.Command != w.Command || g.State != w.State || g.Section != w.Section ||
			strings.Join(g.Expected, "|") != strings.Join(w.Expected, "|") {
			t.Errorf("step %d = %+v, want %+v", i, g, w)
		}
	}
	if _, err := ParseGuide("```console\n$ cmd\n```\n"); err == nil {
		t.Error("a command without a state comment parsed without error")
	}
}

// TestGuidesParse keeps the real guides runnable: every command has a state
// the e2e suite knows.
func TestGuidesParse(t *testing.T) {
	for _, path := range GuideFiles {
		data, err := os.ReadFile("../../" + path)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := ParseGuide(string(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(steps) < 10 {
			t.Errorf("%s: only %d commands", path, len(steps))
		}
		for _, s := range steps {
			if !knownState(s.State) {
				t.Errorf("%s:%d: unknown e2e-state %q", path, s.Line, s.State)
			}
		}
	}
}
