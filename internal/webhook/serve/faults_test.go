package serve

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/webhook"
	"github.com/mesh-cni/mesh-cni/internal/webhook/webhooktest"
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
	once      sync.Once
}

// pull fires the switch, once.
func (k *killSwitch) pull() { k.once.Do(func() { close(k.fire) }) }

// answered is replica i's Server.answered.
func (k *killSwitch) answered(i int) func() {
	return func() {
		if !k.armed.Load() {
			return
		}
		k.byReplica[i].Add(1)
		if k.count.Add(1) == k.at {
			k.pull()
		}
	}
}

// killDuringBurst creates burstPods OSM-injected pods (osm-init in them)
// in a monitored namespace without Pod Security, and kills both replicas
// abruptly mid-burst. failurePolicy Ignore then admits the rest unchanged:
// every pod has either the record and no osm-init, or osm-init and no
// record (for which the plugin steps aside); none has neither (osm-init
// gone without the record of what it would have run) and none has both.
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
	got := createBurst(t, admin, "burst", burstPods, burstWorkers, nil)
	select {
	case <-killed:
	default:
		t.Errorf("the replicas answered %d admissions of the burst, fewer than the %d the kill waits for", k.count.Load(), burstKillAt)
		k.pull()
		<-killed
	}
	t.Logf("%d pods, replicas killed after answering %d: %s; %d admissions answered in all (replica 0: %d, replica 1: %d)",
		burstPods, burstKillAt, got, k.count.Load(), k.byReplica[0].Load(), k.byReplica[1].Load())
	if got.recorded.Load()+got.keptInit.Load() != burstPods || got.recorded.Load() == 0 || got.keptInit.Load() == 0 {
		t.Errorf("want every pod recorded or with osm-init, and both kinds (the kill landing mid-burst)")
	}
}

// outcomes counts what the pods of a burst were stored as.
type outcomes struct{ recorded, keptInit, neither, both, failed atomic.Int32 }

func (o *outcomes) String() string {
	return fmt.Sprintf("%d recorded without osm-init, %d kept osm-init, %d neither, %d both, %d failed",
		o.recorded.Load(), o.keptInit.Load(), o.neither.Load(), o.both.Load(), o.failed.Load())
}

// createBurst creates total OSM-injected pods prefix-<i> in the monitored
// namespace without Pod Security from workers at once, and counts what
// each was stored as; after, when set, runs after each creation. A pod
// failed, with neither or with both is an error.
func createBurst(t *testing.T, admin *kube.Client, prefix string, total, workers int, after func()) *outcomes {
	var o outcomes
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				name := fmt.Sprintf("%s-%d", prefix, i)
				stored, err := createPod(admin, "load", webhooktest.OSMPod(name, webhooktest.DefaultScript), false)
				var record string
				var has bool
				if err == nil {
					record, has = stored.Annotations[webhook.CommandAnnotation]
				}
				switch {
				case err != nil:
					o.failed.Add(1)
					t.Errorf("pod %s: %v", name, err)
				case !hasInit(stored) && record == webhooktest.DefaultScript:
					o.recorded.Add(1)
				case hasInit(stored) && !has:
					o.keptInit.Add(1)
				case hasInit(stored):
					o.both.Add(1)
					t.Errorf("pod %s kept osm-init and has the record %q", name, record)
				default:
					o.neither.Add(1)
					t.Errorf("pod %s has no osm-init and the record %q", name, record)
				}
				if after != nil {
					after()
				}
			}
		}()
	}
	wg.Wait()
	return &o
}
