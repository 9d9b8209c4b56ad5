// Package status holds what the installer reports about itself: whether
// the node is fully set up and served (readiness) and counters, served over
// HTTP as /healthz, /readyz and Prometheus text on /metrics.
package status

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
)

// Status is safe for concurrent use.
type Status struct {
	mu         sync.Mutex
	ready      bool
	reason     string
	reinstalls map[string]uint64
	fights     uint64
	checks     []func() error
}

// New returns a Status that is not ready.
func New() *Status {
	return &Status{reason: "starting", reinstalls: map[string]uint64{}}
}

// SetReady marks the install complete.
func (s *Status) SetReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready, s.reason = true, ""
}

// SetNotReady marks the install incomplete, with a reason for /readyz.
func (s *Status) SetNotReady(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready, s.reason = false, reason
}

// Require adds a condition of readiness besides the install: the node is
// ready only while check returns nil, and its error is the reason shown.
// Checks run at each Ready call, outside the lock, so that one may take a
// moment (a round trip to the node agent) without holding up the counters.
func (s *Status) Require(check func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, check)
}

// Ready reports readiness and, when not ready, why: the install's reason
// first, then the first failing check's.
func (s *Status) Ready() (bool, string) {
	s.mu.Lock()
	ready, reason, checks := s.ready, s.reason, s.checks
	s.mu.Unlock()
	if !ready {
		return false, reason
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return false, err.Error()
		}
	}
	return true, ""
}

// Reinstalled counts a repair of what (chain, binary, agent-socket).
func (s *Status) Reinstalled(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reinstalls[what]++
}

// Fought counts a warning that another component keeps removing us.
func (s *Status) Fought() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fights++
}

// Handler serves /healthz (the process is alive), /readyz (the install is
// complete and every Require check passes) and /metrics.
func (s *Status) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, reason := s.Ready()
		if !ready {
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/metrics", s.serveMetrics)
	return mux
}

// serveMetrics writes the Prometheus text format by hand: three series do
// not justify the client library's weight in a node agent.
func (s *Status) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	ready := 0
	if ok, _ := s.Ready(); ok {
		ready = 1
	}
	s.mu.Lock()
	kinds := make([]string, 0, len(s.reinstalls))
	for k := range s.reinstalls {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	counts := make([]uint64, len(kinds))
	for i, k := range kinds {
		counts[i] = s.reinstalls[k]
	}
	fights := s.fights
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintf(w, "# HELP mesh_cni_install_ready 1 when the plugin binary and its chain entry are in place and the node agent answers on its socket.\n")
	fmt.Fprintf(w, "# TYPE mesh_cni_install_ready gauge\nmesh_cni_install_ready %d\n", ready)
	fmt.Fprintf(w, "# HELP mesh_cni_reinstalls_total Repairs after something removed or changed what the installer put on the node.\n")
	fmt.Fprintf(w, "# TYPE mesh_cni_reinstalls_total counter\n")
	for i, k := range kinds {
		fmt.Fprintf(w, "mesh_cni_reinstalls_total{what=%q} %d\n", k, counts[i])
	}
	fmt.Fprintf(w, "# HELP mesh_cni_chain_fight_warnings_total Warnings that another component keeps removing the chain entry.\n")
	fmt.Fprintf(w, "# TYPE mesh_cni_chain_fight_warnings_total counter\nmesh_cni_chain_fight_warnings_total %d\n", fights)
}
