package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// eventQueueSize bounds the events waiting for the API: a burst of pod
// starts while the API is slow drops reports, never memory or pods.
const eventQueueSize = 1024

// eventTimeout bounds one event's write; drainTimeout what is left for
// queued events when the agent stops.
const (
	eventTimeout = 5 * time.Second
	drainTimeout = 2 * time.Second
)

// eventQueue records events in the background, in arrival order.
type eventQueue struct {
	w   EventWriter
	log *slog.Logger
	ch  chan object.Event
}

func newEventQueue(w EventWriter, log *slog.Logger) *eventQueue {
	return &eventQueue{w: w, log: log, ch: make(chan object.Event, eventQueueSize)}
}

// add queues ev, or drops it with a warning when the queue is full.
func (q *eventQueue) add(ev object.Event) {
	select {
	case q.ch <- ev:
	default:
		q.log.Warn("event queue full, event dropped", "pod", ev.Namespace+"/"+ev.PodName, "reason", ev.Reason)
	}
}

// run writes queued events until ctx ends, then for drainTimeout more.
func (q *eventQueue) run(ctx context.Context) {
	for {
		select {
		case ev := <-q.ch:
			q.write(context.Background(), ev)
		case <-ctx.Done():
			q.drain()
			return
		}
	}
}

func (q *eventQueue) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	for {
		select {
		case ev := <-q.ch:
			q.write(ctx, ev)
		default:
			return
		}
		if ctx.Err() != nil {
			q.log.Warn("agent stopping, queued events dropped", "count", len(q.ch))
			return
		}
	}
}

func (q *eventQueue) write(ctx context.Context, ev object.Event) {
	ctx, cancel := context.WithTimeout(ctx, eventTimeout)
	defer cancel()
	if err := q.w.CreateEvent(ctx, ev); err != nil {
		q.log.Warn("could not record event", "pod", ev.Namespace+"/"+ev.PodName, "reason", ev.Reason, "error", err)
	}
}
