package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The start check: an app started with MESHAPP_START_PROBE=HOST:PORT dials
// that address before it serves and records whether the connection was
// redirected to the sidecar, so that a test sees "this app ran without its
// rules" from the app itself rather than assuming it. With
// MESHAPP_REPORT_DIR the verdict is also written there, as a file named
// after the pod, which outlives the pod (a hostPath): a pod deleted by
// repair leaves its verdict behind.
const (
	envStartProbe = "MESHAPP_START_PROBE"
	envReportDir  = "MESHAPP_REPORT_DIR"
	// startProbeBound bounds the check: with rules, the app's dial is
	// refused until the sidecar, started after the app, listens.
	startProbeBound = 60 * time.Second
)

// Verdicts of the start check, the first word of its line.
const (
	verdictRedirected = "redirected" // the sidecar answered, with the original destination
	verdictDirect     = "direct"     // the address itself answered: no rules
	verdictUnknown    = "unknown"    // nobody answered within the bound
)

// startCheck runs the check when asked to, prints its line and writes it
// into the report directory. It never stops the app: the verdict is the
// observation, whatever it is.
func startCheck(name string) error {
	addr := os.Getenv(envStartProbe)
	if addr == "" {
		return nil
	}
	line := fmt.Sprintf("%s %s %s", verdictUnknown, addr, "no answer within "+startProbeBound.String())
	deadline := time.Now().Add(startProbeBound)
	for time.Now().Before(deadline) {
		answer, err := dialOnce(addr)
		if err == nil {
			verdict := verdictDirect
			if strings.HasPrefix(answer, "sidecar-outbound ") {
				verdict = verdictRedirected
			}
			line = verdict + " " + answer
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("start check:", line)
	dir := os.Getenv(envReportDir)
	if dir == "" {
		return nil
	}
	// Written whole under a temporary name, then renamed: a reader never
	// sees half a line.
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(line+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the start check's report: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// dialOnce connects to addr and returns the line its listener says.
func dialOnce(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}
