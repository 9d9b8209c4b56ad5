// Package journal is the plugin's record, in mesh-cni's run directory on
// the node, of the pod sandboxes it set up: one file per sandbox, written
// before the ADD returns, so before any container of the pod starts. The
// node agent reads it to tell a meshed pod mesh-cni set up from one whose
// sandbox was made while mesh-cni was not in the node's CNI chain, even
// after the agent itself restarted without memory (docs/decisions.md,
// "Repair of pods set up without mesh-cni").
//
// Since is when the journal began to be complete: every sandbox the
// plugin set up on the node after it has its record (the installer says
// when that holds; Begin). Only a pod whose sandbox came up after Since
// can be judged by a missing record.
package journal

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DirName is the journal's directory in the run dir.
const DirName = "pods"

// sinceName is the file in the journal's directory holding Since. It is no
// pod UID, which the other entries are.
const sinceName = "since"

// ErrNoSince means the journal has no Since: nothing can be judged by it.
var ErrNoSince = errors.New("the journal of set-up pods has no start")

// Journal is the journal in one run dir.
type Journal struct {
	// RunDir is mesh-cni's run directory (the runDir setting).
	RunDir string
}

func (j Journal) dir() string { return filepath.Join(j.RunDir, DirName) }

// Record notes that the plugin set up sandbox containerID of pod uid, with
// these addresses. The file is complete once it is there: written under a
// temporary name and renamed.
func (j Journal) Record(uid, containerID string, ips []netip.Addr) error {
	if err := checkName("pod UID", uid); err != nil {
		return err
	}
	if err := checkName("container ID", containerID); err != nil {
		return err
	}
	dir := filepath.Join(j.dir(), uid)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("recording the set-up of pod %s: %w", uid, err)
	}
	var b strings.Builder
	for _, ip := range ips {
		b.WriteString(ip.String() + "\n")
	}
	tmp := filepath.Join(dir, "."+containerID+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("recording the set-up of pod %s: %w", uid, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, containerID)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording the set-up of pod %s: %w", uid, err)
	}
	return nil
}

// checkName refuses what cannot be one file name of the journal.
func checkName(what, s string) error {
	if s == "" || s == sinceName || strings.HasPrefix(s, ".") || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("recording a set-up: %s %q cannot name a file", what, s)
	}
	return nil
}

// Has says whether the plugin set up a sandbox of pod uid that had one of
// these addresses: the pod's sandbox now (the API's status.podIPs) is one
// mesh-cni set up. A sandbox made again without mesh-cni gets another
// address from the primary CNI, so an older record does not vouch for it.
func (j Journal) Has(uid string, ips []netip.Addr) (bool, error) {
	if checkName("pod UID", uid) != nil {
		return false, nil
	}
	entries, err := os.ReadDir(filepath.Join(j.dir(), uid))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the set-up records of pod %s: %w", uid, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(j.dir(), uid, e.Name()))
		if err != nil {
			return false, fmt.Errorf("reading the set-up records of pod %s: %w", uid, err)
		}
		for _, line := range strings.Fields(string(data)) {
			if a, err := netip.ParseAddr(line); err == nil && slices.Contains(ips, a) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Since returns when the journal began to be complete, or ErrNoSince.
func (j Journal) Since() (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(j.dir(), sinceName))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, ErrNoSince
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the journal's start: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the journal's start %s: %w", filepath.Join(j.dir(), sinceName), err)
	}
	return t, nil
}

// Begin sets Since to t.
func (j Journal) Begin(t time.Time) error {
	if err := os.MkdirAll(j.dir(), 0o700); err != nil {
		return fmt.Errorf("starting the journal of set-up pods: %w", err)
	}
	tmp := filepath.Join(j.dir(), "."+sinceName+".tmp")
	if err := os.WriteFile(tmp, []byte(t.UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		return fmt.Errorf("starting the journal of set-up pods: %w", err)
	}
	return os.Rename(tmp, filepath.Join(j.dir(), sinceName))
}

// Forget removes the records of pod uid, which is gone.
func (j Journal) Forget(uid string) error {
	if checkName("pod UID", uid) != nil {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(j.dir(), uid)); err != nil {
		return fmt.Errorf("removing the set-up records of pod %s: %w", uid, err)
	}
	return nil
}

// Prune removes the records of the pods keep does not name that are older
// than age: a pod set up a moment ago may not be in a list read before.
func (j Journal) Prune(keep func(uid string) bool, age time.Duration) error {
	entries, err := os.ReadDir(j.dir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the journal of set-up pods: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || keep(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			errs = append(errs, j.Forget(e.Name()))
		}
	}
	return errors.Join(errs...)
}

// Remove removes the whole journal (uninstall).
func (j Journal) Remove() error {
	if err := os.RemoveAll(j.dir()); err != nil {
		return fmt.Errorf("removing the journal of set-up pods: %w", err)
	}
	return nil
}
