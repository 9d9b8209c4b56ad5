package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

const (
	// meshConfigGroup is MeshConfig's API group; kube.MeshConfigVersions
	// lists its versions.
	meshConfigGroup = "config.openservicemesh.io"
	// absentRecheck is how often a collection no version serves (no
	// MeshConfig CRD) is looked for again, so that a CRD installed later
	// is picked up.
	absentRecheck = 30 * time.Second
	// maxWatchedNames bounds the watches opened on demand per kind: the
	// plugin asks for one or two names, and a stream of odd names must not
	// open a watch each.
	maxWatchedNames = 16
)

// Store answers the agent's reads from watch-backed caches while their
// watch is live, else from the API.
type Store struct {
	api  *kube.Client
	log  *slog.Logger
	pods *reflector
	// recheck is absentRecheck; tests shorten it.
	recheck time.Duration
	// liveGets counts the reads that went to the API, for tests to tell
	// them from cache hits.
	liveGets atomic.Int64

	mu sync.Mutex
	// ctx is Run's: nil before Run, done after.
	ctx     context.Context
	stopped bool
	running sync.WaitGroup
	// meshConfigs and configMaps are the watches by namespace/name.
	meshConfigs map[string]*reflector
	configMaps  map[string]*reflector
}

// NewStore returns a Store reading through api, which caches the pods of
// node nodeName once Run has started.
func NewStore(api *kube.Client, nodeName string, log *slog.Logger) *Store {
	s := &Store{api: api, log: log, recheck: absentRecheck, meshConfigs: map[string]*reflector{}, configMaps: map[string]*reflector{}}
	s.pods = newReflector(api, log, "pods", []string{"/api/v1/pods"},
		url.Values{"fieldSelector": {"spec.nodeName=" + nodeName}}, keepAs[object.Pod](nil), s.recheck)
	return s
}

// Run starts the watches (this node's pods now, each MeshConfig and
// ConfigMap on its first read) and returns once ctx has ended and every
// watch has stopped; call it once, in a goroutine of its own. Until Run
// starts, and whenever a watch is down, reads go to the API.
func (s *Store) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.start(s.pods)
	for _, r := range s.meshConfigs {
		s.start(r)
	}
	for _, r := range s.configMaps {
		s.start(r)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.running.Wait()
}

// start runs r under Run's context; s.mu is held.
func (s *Store) start(r *reflector) {
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		r.run(s.ctx)
	}()
}

// ObservePods has f shown every pod of the node the watch lists or sees
// change (Repairer.Observe); call it before Run. f must not block: it
// runs on the watch's goroutine.
func (s *Store) ObservePods(f func(deleted bool, raw json.RawMessage)) { s.pods.observe = f }

// Synced reports whether the pod watch is live, for the agent's readiness.
func (s *Store) Synced() bool { return s.pods.isLive() }

// GetPod reads a pod; uid, when not empty, is the one the caller expects.
// The cache answers only a pod it holds with that UID: a pod created a
// moment ago may not have reached the watch yet, so anything else is read
// from the API, whose pod may still have another UID (the caller checks).
func (s *Store) GetPod(ctx context.Context, namespace, name, uid string) (*object.Pod, error) {
	if e, found, _ := s.pods.lookup(namespace + "/" + name); found && (uid == "" || e.uid == uid) {
		return decode[object.Pod](e, "pod", namespace, name)
	}
	s.liveGets.Add(1)
	return s.api.GetPod(ctx, namespace, name)
}

// GetMeshConfig reads a MeshConfig at the newest version served; an error
// matching kube.ErrNotFound means there is none (or no MeshConfig CRD).
func (s *Store) GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error) {
	r := s.watch(s.meshConfigs, namespace, name, func(log *slog.Logger) *reflector {
		return s.meshConfigReflector(log, namespace, name, kube.MeshConfigVersions)
	})
	if mc, ok, err := cached[object.MeshConfig](r, "MeshConfig", namespace, name); ok {
		return mc, err
	}
	s.liveGets.Add(1)
	mc, err := s.api.GetMeshConfig(ctx, namespace, name)
	var apiErr *kube.APIError
	if r != nil && (err == nil || errors.As(err, &apiErr) && apiErr.ObjectMissing) {
		r.served()
	}
	return mc, err
}

// meshConfigReflector watches one MeshConfig at the first of versions
// that is served.
func (s *Store) meshConfigReflector(log *slog.Logger, namespace, name string, versions []string) *reflector {
	paths := make([]string, len(versions))
	for i, v := range versions {
		paths[i] = "/apis/" + meshConfigGroup + "/" + v + "/namespaces/" + url.PathEscape(namespace) + "/meshconfigs"
	}
	keep := keepAs(func(mc *object.MeshConfig, i int) {
		// Like the API's GET, name the version the object was read at.
		mc.APIVersion = meshConfigGroup + "/" + versions[i]
	})
	return newReflector(s.api, log, "MeshConfig "+namespace+"/"+name, paths, byName(name), keep, s.recheck)
}

// GetConfigMap reads a ConfigMap.
func (s *Store) GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error) {
	r := s.watch(s.configMaps, namespace, name, func(log *slog.Logger) *reflector {
		return newReflector(s.api, log, "ConfigMap "+namespace+"/"+name, []string{"/api/v1/namespaces/" + url.PathEscape(namespace) + "/configmaps"},
			byName(name), keepAs[object.ConfigMap](nil), s.recheck)
	})
	if cm, ok, err := cached[object.ConfigMap](r, "ConfigMap", namespace, name); ok {
		return cm, err
	}
	s.liveGets.Add(1)
	return s.api.GetConfigMap(ctx, namespace, name)
}

// watch returns the watch of namespace/name in m, made by mk and started
// on this first read of the name; nil once m holds maxWatchedNames.
func (s *Store) watch(m map[string]*reflector, namespace, name string, mk func(*slog.Logger) *reflector) *reflector {
	if namespace == "" || name == "" {
		// Not a name a watch can narrow to: the API says what it means.
		return nil
	}
	key := namespace + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := m[key]; r != nil {
		return r
	}
	if len(m) >= maxWatchedNames {
		return nil
	}
	r := mk(s.log)
	m[key] = r
	if s.ctx != nil && !s.stopped {
		s.start(r)
	}
	return r
}

// cached answers a read of namespace/name from r when r is live: the
// object, or a not-found error since a live watch of the name would hold
// it. ok is false when the API must be asked.
func cached[T any](r *reflector, kind, namespace, name string) (obj *T, ok bool, err error) {
	if r == nil {
		return nil, false, nil
	}
	e, found, live := r.lookup(namespace + "/" + name)
	if !live {
		return nil, false, nil
	}
	if !found {
		return nil, true, fmt.Errorf("reading %s %s/%s: %w (watched)", kind, namespace, name, kube.ErrNotFound)
	}
	obj, err = decode[T](e, kind, namespace, name)
	return obj, true, err
}

// byName narrows a namespace's collection to one name. deploy/'s Role
// grants the agent the mesh's objects by name only, and the API server
// authorizes a list or watch with this selector as a request for that
// name: without it the watch would be forbidden
// (TestStoreUnderDeployedRBAC).
func byName(name string) url.Values {
	return url.Values{"fieldSelector": {"metadata.name=" + name}}
}

// keepAs caches objects as T: decoded into it, adjusted by fix (when not
// nil) and encoded again, which drops every field T does not read.
func keepAs[T any](fix func(obj *T, i int)) keepFunc {
	return func(raw json.RawMessage, i int) (string, entry, error) {
		var m struct {
			Metadata object.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return "", entry{}, err
		}
		e := entry{uid: m.Metadata.UID}
		var obj T
		if e.err = json.Unmarshal(raw, &obj); e.err == nil {
			if fix != nil {
				fix(&obj, i)
			}
			e.data, e.err = json.Marshal(&obj)
		}
		return m.Metadata.Namespace + "/" + m.Metadata.Name, e, nil
	}
}

// decode returns a fresh copy of the cached kind namespace/name.
func decode[T any](e entry, kind, namespace, name string) (*T, error) {
	obj := new(T)
	if e.err == nil {
		if e.err = json.Unmarshal(e.data, obj); e.err == nil {
			return obj, nil
		}
	}
	return nil, fmt.Errorf("reading %s %s/%s: decoding it: %w", kind, namespace, name, e.err)
}
