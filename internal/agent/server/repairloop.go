package server

import (
	"context"
	"encoding/json"
	"time"
)

// readyPoll is how often Run looks at readiness while the install is not
// ready: the first pass comes within it of the install's completion.
const readyPoll = time.Second

// queueSize bounds the pods Observe hands to Run; when it is full, the
// next pass finds the rest.
const queueSize = 256

// Run repairs until ctx ends: a pass over the node's pods as soon as the
// install is ready, and then every interval, and in between each pod
// Observe saw go wrong, at once. The list is answered from the API
// server's watch cache (resourceVersion=0) and holds one node's pods.
// Call Run once; Observe may be called before.
func (r *Repairer) Run(ctx context.Context, interval time.Duration) {
	if r.Mode == RepairOff {
		return
	}
	q := r.pods()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	poll := time.NewTicker(readyPoll)
	defer poll.Stop()
	wasReady := false
	pass := func() {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("repairing pods set up without mesh-cni", "error", err.Error())
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			pass()
		case <-poll.C:
			ready := r.Ready()
			if ready && !wasReady {
				pass()
			}
			wasReady = ready
		case p := <-q:
			r.one(ctx, p)
		}
	}
}

// one repairs a pod Observe saw go wrong, judged again now.
func (r *Repairer) one(ctx context.Context, p *repairPod) {
	if r.Mode == RepairOff || !r.Ready() {
		return // the pass at readiness finds it
	}
	since, has := r.journalNow()
	if _, err := r.act(ctx, p, r.judge(p, since, has)); err != nil && ctx.Err() == nil {
		r.Log.Warn("repairing a pod set up without mesh-cni", "namespace", p.Metadata.Namespace, "name", p.Metadata.Name, "error", err.Error())
	}
}

// pods is the queue from Observe to Run, made on first use.
func (r *Repairer) pods() chan *repairPod {
	r.once.Do(func() { r.queue = make(chan *repairPod, queueSize) })
	return r.queue
}

// Observe is given each pod of the node the agent's watch lists or sees
// change (deleted: the watch saw it go): it hands a pod that needs repair
// to Run at once, so that repair need not wait for the next pass, and
// forgets the set-up records of a pod that is gone. It never blocks.
func (r *Repairer) Observe(deleted bool, raw json.RawMessage) {
	if r.Mode == RepairOff {
		return
	}
	p := new(repairPod)
	if err := json.Unmarshal(raw, p); err != nil {
		return // the pass reads it from the list
	}
	if deleted {
		if r.Journal != nil {
			if err := r.Journal.Forget(p.Metadata.UID); err != nil {
				r.Log.Warn("forgetting a deleted pod's set-up", "uid", p.Metadata.UID, "error", err.Error())
			}
		}
		return
	}
	since, has := r.journalNow()
	if r.judge(p, since, has) == fine {
		return
	}
	select {
	case r.pods() <- p:
	default:
	}
}
