// Package status holds what the installer reports about itself: whether
// the node is fully set up (readiness) and counters, served over HTTP as
// /healthz, /readyz and Prometheus text on /metrics.
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

// Ready reports readiness and, when not ready, why.
func (s *Status) Ready() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready, s.reason
}

// Reinstalled counts a repair of what (chain, binary, kubeconfig).
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
// complete) and /metrics.
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
	s.mu.Lock()
	ready := 0
	if s.ready {
		ready = 1
	}
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
	fmt.Fprintf(w, "# HELP mesh_cni_install_ready 1 when the plugin binary, its kubeconfig and its chain entry are all in place.\n")
	fmt.Fprintf(w, "# TYPE mesh_cni_install_ready gauge\nmesh_cni_install_ready %d\n", ready)
	fmt.Fprintf(w, "# HELP mesh_cni_reinstalls_total Repairs after something removed or changed what the installer put on the node.\n")
	fmt.Fprintf(w, "# TYPE mesh_cni_reinstalls_total counter\n")
	for i, k := range kinds {
		fmt.Fprintf(w, "mesh_cni_reinstalls_total{what=%q} %d\n", k, counts[i])
	}
	fmt.Fprintf(w, "# HELP mesh_cni_chain_fight_warnings_total Warnings that another component keeps removing the chain entry.\n")
	fmt.Fprintf(w, "# TYPE mesh_cni_chain_fight_warnings_total counter\nmesh_cni_chain_fight_warnings_total %d\n", fights)
}
