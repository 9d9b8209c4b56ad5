package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

const (
	// minBackoff and maxBackoff bound the pause before listing again
	// after a failure: short enough that an API restart is noticed within
	// seconds, long enough not to hammer an API that is down.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// healthyWatch is how long a watch must have run for its end to be
	// routine (the server's timeout) rather than part of a failure streak.
	healthyWatch = 10 * time.Second
	// listTimeout bounds a list: a hung one must not hold a cache that
	// answers "absent" live, nor keep the watch from being retried.
	listTimeout = 30 * time.Second
	// watchGrace is how long past its server-side timeout a watch may run
	// before the client cuts it. The API client's HTTP/2 pings end a watch
	// on a connection that died silently within about 25 s
	// (TestStoreSilentConnectionLoss); this is the bound of last resort.
	watchGrace = 30 * time.Second
)

// entry is one cached object: its UID, and its JSON as the cache's type
// encodes it. The bytes are never changed, so each read decodes its own
// copy and no caller can alter what another sees.
type entry struct {
	uid  string
	data []byte
	// err is why the object did not decode as the cache's type: a read
	// must fail as reading it from the API would, not find it absent.
	err error
}

// keepFunc turns an object as listed or watched at paths[i] into its
// cache key (namespace/name) and entry; an error means not even its
// metadata could be read.
type keepFunc func(raw json.RawMessage, i int) (key string, e entry, err error)

// reflector keeps one collection's objects in step with the API server by
// listing it and then watching for changes, and says whether its copy may
// answer: only while a watch is open on top of a successful list.
type reflector struct {
	what string
	api  *kube.Client
	log  *slog.Logger
	// paths are the collection at each API version, the preferred first;
	// one whose list answers 404 is not served and the next is tried.
	paths []string
	query url.Values
	keep  keepFunc
	// recheck is how long after finding no version served the versions
	// are listed again, unless nudged sooner.
	recheck time.Duration
	// nudge cuts that wait short: a read answered by the API showed the
	// collection served (the CRD was installed in the meantime).
	nudge chan struct{}
	// observe, when set, is shown every object listed or watched
	// (deleted: a watch's DELETED event), from run's goroutine.
	observe func(deleted bool, raw json.RawMessage)

	// failing, routine and state belong to run's goroutine: the last
	// attempt failed; the last watch ended the routine way; the path
	// watched when last live ("" when absent).
	failing, routine bool
	state            string

	mu   sync.RWMutex
	live bool
	// absent: the last look found no version served. The cache never
	// answers then: a CRD installed a moment before a pod's ADD must not
	// be reported missing until the next look, which would give the pod
	// OSM's defaults instead of the mesh's exclusions.
	absent bool
	items  map[string]entry
}

func newReflector(api *kube.Client, log *slog.Logger, what string, paths []string, query url.Values, keep keepFunc, recheck time.Duration) *reflector {
	return &reflector{what: what, api: api, log: log.With("watch", what), paths: paths, query: query, keep: keep, recheck: recheck,
		nudge: make(chan struct{}, 1)}
}

// lookup returns the cached object under key, whether there is one, and
// whether the cache may answer at all.
func (r *reflector) lookup(key string) (e entry, found, live bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.live {
		return entry{}, false, false
	}
	e, found = r.items[key]
	return e, found, true
}

// isAbsent says whether the last look found no version served.
func (r *reflector) isAbsent() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.absent
}

// served is told that the API answered a read of the collection as a
// served resource; if the last look found it not served, look again now.
func (r *reflector) served() {
	if !r.isAbsent() {
		return
	}
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

func (r *reflector) isLive() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.live
}

func (r *reflector) setLive(live bool) {
	r.mu.Lock()
	r.live = live
	r.mu.Unlock()
}

// run lists and watches until ctx ends, listing afresh after every end of
// a watch: the rare relist costs less than reasoning about what a stream
// that ended may have missed.
func (r *reflector) run(ctx context.Context) {
	defer r.setLive(false)
	wait := minBackoff
	for ctx.Err() == nil {
		healthy, err := r.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if healthy {
			wait, r.routine = minBackoff, true
			if err != nil {
				r.log.Debug("watch ended, listing again", "err", err)
			}
			continue
		}
		if r.routine || !r.failing {
			r.log.Info("watch failed, reads go to the API until it is back", "err", err, "retryIn", wait)
		} else {
			r.log.Debug("watch still failing", "err", err, "retryIn", wait)
		}
		r.routine, r.failing = false, true
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// becameLive logs the cache's answering again: at Info after a start, a
// failure or a change of what is watched (absent, or another version), at
// Debug after a routine relist.
func (r *reflector) becameLive(state, msg string, args ...any) {
	level := slog.LevelInfo
	if r.routine && state == r.state {
		level = slog.LevelDebug
	}
	r.failing, r.state = false, state
	r.log.Log(context.Background(), level, msg, args...)
}

// once lists the collection and watches it until the stream ends. healthy
// reports a watch that ran long enough for its end to be routine.
func (r *reflector) once(ctx context.Context) (healthy bool, err error) {
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	raws, rv, version, err := r.list(lctx)
	cancel()
	if err != nil {
		r.setLive(false)
		return false, err
	}
	items := map[string]entry{}
	for _, raw := range raws {
		key, e, err := r.keep(raw, version)
		if err != nil {
			r.setLive(false)
			return false, fmt.Errorf("decoding a listed object: %w", err)
		}
		items[key] = e
		r.show(false, raw)
	}
	if version < 0 {
		// No version served: nothing to watch. Reads go to the API, which
		// answers "not found" at once, until a look finds it served.
		r.mu.Lock()
		r.items, r.live, r.absent = nil, false, true
		r.mu.Unlock()
		r.becameLive("", "not served by the API: reads go to the API; looking again later", "in", r.recheck)
		select {
		case <-ctx.Done():
		case <-time.After(r.recheck):
		case <-r.nudge:
		}
		return true, nil
	}
	r.mu.Lock()
	r.items, r.live, r.absent = items, false, false
	r.mu.Unlock()

	// Like client-go, spread the watches' ends so that agents restarted
	// together do not all relist together.
	timeout := 5*time.Minute + rand.N(5*time.Minute)
	wctx, cancel := context.WithTimeout(ctx, timeout+watchGrace)
	defer cancel()
	q := maps.Clone(r.query)
	q.Set("timeoutSeconds", strconv.Itoa(int(timeout.Seconds())))
	w, err := r.api.Watch(wctx, r.paths[version], q, rv)
	if err != nil {
		return false, err
	}
	defer w.Close()
	r.setLive(true)
	r.becameLive(r.paths[version], "watch live, reads answered from the cache", "path", r.paths[version], "objects", len(items), "resourceVersion", rv)
	start := time.Now()
	for {
		typ, raw, err := w.Next()
		if err != nil {
			r.setLive(false)
			return time.Since(start) >= healthyWatch, err
		}
		key, e, err := r.keep(raw, version)
		if err != nil {
			// Which object changed is unknown, so what the cache holds
			// may be stale.
			r.setLive(false)
			return false, fmt.Errorf("decoding %s event: %w", typ, err)
		}
		r.mu.Lock()
		if typ == kube.WatchDeleted {
			delete(r.items, key)
		} else {
			r.items[key] = e
		}
		r.mu.Unlock()
		r.show(typ == kube.WatchDeleted, raw)
	}
}

// show hands an object to observe, if set.
func (r *reflector) show(deleted bool, raw json.RawMessage) {
	if r.observe != nil {
		r.observe(deleted, raw)
	}
}

// list lists the collection at the first version served and returns the
// index of that version, or -1 when every version answered 404.
func (r *reflector) list(ctx context.Context) (items []json.RawMessage, rv string, version int, err error) {
	for i, path := range r.paths {
		items, rv, err = r.api.List(ctx, path, r.query)
		var apiErr *kube.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 404 {
			continue
		}
		if err != nil {
			return nil, "", 0, err
		}
		return items, rv, i, nil
	}
	return nil, "", -1, nil
}
