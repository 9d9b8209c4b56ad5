package serve

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/webhook"
	"github.com/mesh-cni/mesh-cni/pkg/webhook/webhooktest"
)

// The burst: pods created by workers at once; both replicas are killed
// once the handlers have answered burstKillAt admissions of it.
const burstPods, burstWorkers, burstKillAt = 50, 5, 20

// killSwitch counts the admissions the replicas answer once armed, and
// fires at the at-th.
type killSwitch struct {
	armed atomic.Bool
	count atomic.Int32
	// byReplica counts each replica's share.
	byReplica [2]atomic.Int32
	at        int32
	fire      chan struct{}
}

// answered is replica i's Server.answered.
func (k *killSwitch) answered(i int) func() {
	return func() {
		if !k.armed.Load() {
			return
		}
		k.byReplica[i].Add(1)
		if k.count.Add(1) == k.at {
			close(k.fire)
		}
	}
}

// killDuringBurst creates burstPods OSM-injected pods (osm-init in them)
// in a monitored namespace without Pod Security, and kills both replicas
// abruptly mid-burst. failurePolicy Ignore then admits the rest unchanged:
// every pod has either the record and no osm-init, or osm-init and no
// record; none has neither (it would start with no rules: the plugin
// steps aside for no pod without osm-init, but would find no record and
// compute rules OSM's osm-init never had a say in) and none has both.
func killDuringBurst(t *testing.T, admin *kube.Client, k *killSwitch, servers []*replica) {
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		<-k.fire
		// Both at once, then wait for each to end.
		for _, r := range servers {
			r.ln.kill()
		}
		for _, r := range servers {
			r.kill()
		}
	}()
	k.armed.Store(true)
	var recorded, keptInit, neither, both, failed atomic.Int32
	var wg sync.WaitGroup
	for w := range burstWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < burstPods; i += burstWorkers {
				stored, err := createPod(admin, "load", webhooktest.OSMPod(fmt.Sprintf("burst-%d", i), webhooktest.DefaultScript), false)
				if err != nil {
					failed.Add(1)
					t.Errorf("pod burst-%d: %v", i, err)
					continue
				}
				record, has := stored.Annotations[webhook.CommandAnnotation]
				switch {
				case !hasInit(stored) && record == webhooktest.DefaultScript:
					recorded.Add(1)
				case hasInit(stored) && !has:
					keptInit.Add(1)
				case hasInit(stored):
					both.Add(1)
					t.Errorf("pod burst-%d kept osm-init and has the record %q", i, record)
				default:
					neither.Add(1)
					t.Errorf("pod burst-%d has no osm-init and the record %q", i, record)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Errorf("the replicas answered %d admissions of the burst, fewer than the %d the kill waits for", k.count.Load(), burstKillAt)
		close(k.fire)
		<-killed
	}
	t.Logf("%d pods, replicas killed after answering %d: %d recorded without osm-init, %d kept osm-init, %d neither, %d both, %d failed; %d admissions answered in all (replica 0: %d, replica 1: %d)",
		burstPods, burstKillAt, recorded.Load(), keptInit.Load(), neither.Load(), both.Load(), failed.Load(), k.count.Load(), k.byReplica[0].Load(), k.byReplica[1].Load())
	if recorded.Load()+keptInit.Load() != burstPods || recorded.Load() == 0 || keptInit.Load() == 0 {
		t.Errorf("want every pod recorded or with osm-init, and both kinds (the kill landing mid-burst)")
	}
}
