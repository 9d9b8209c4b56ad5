package cni

import (
	"fmt"
	"net/netip"

	"github.com/mesh-cni/mesh-cni/internal/journal"
)

// setUpJournal records the sandboxes the plugin set up (internal/journal).
type setUpJournal interface {
	Record(runDir, podUID, containerID string, ips []netip.Addr) error
}

// runDirJournal is the journal in the config's run dir.
type runDirJournal struct{}

func (runDirJournal) Record(runDir, podUID, containerID string, ips []netip.Addr) error {
	return journal.Journal{RunDir: runDir}.Record(podUID, containerID, ips)
}

// noteSetUp records the pod's sandbox as one mesh-cni set up, before the
// ADD returns and so before any of the pod's containers starts: the node
// agent repairs a meshed pod whose sandbox it finds without a record. A
// pod whose mesh intercepts otherwise is recorded too: mesh-cni decided
// about it.
func (p *Plugin) noteSetUp(inv *invocation, containerID string) error {
	ips, err := podIPs(inv.conf.PrevResult)
	if err == nil {
		err = p.journal.Record(inv.conf.RunDir, inv.pod.UID, containerID, ips)
	}
	if err != nil {
		return fmt.Errorf("pod %s: %w", inv.pod, err)
	}
	return nil
}
