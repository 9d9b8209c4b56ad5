package status

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestEndpoints(t *testing.T) {
	s := New()
	h := s.Handler()
	steps := []struct {
		name     string
		do       func()
		path     string
		wantCode int
		wantBody []string
	}{
		{"alive while starting", func() {}, "/healthz", 200, []string{"ok"}},
		{"not ready while starting", func() {}, "/readyz", 503, []string{"not ready: starting"}},
		{"metrics while starting", func() {}, "/metrics", 200, []string{"mesh_cni_install_ready 0\n", "mesh_cni_chain_fight_warnings_total 0\n"}},
		{"ready", s.SetReady, "/readyz", 200, []string{"ready"}},
		{"counted", func() { s.Reinstalled("chain"); s.Reinstalled("chain"); s.Reinstalled("binary"); s.Fought() }, "/metrics", 200,
			[]string{"mesh_cni_install_ready 1\n", `mesh_cni_reinstalls_total{what="binary"} 1` + "\n", `mesh_cni_reinstalls_total{what="chain"} 2` + "\n", "mesh_cni_chain_fight_warnings_total 1\n"}},
		{"not ready with reason", func() { s.SetNotReady("waiting for a primary CNI config in /etc/cni/net.d") }, "/readyz", 503, []string{"/etc/cni/net.d"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			code, body := get(t, h, st.path)
			if code != st.wantCode {
				t.Errorf("%s = %d, want %d", st.path, code, st.wantCode)
			}
			for _, w := range st.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("%s body %q lacks %q", st.path, body, w)
				}
			}
		})
	}
}

// TestRequire: a check holds readiness back, with its reason, only once
// the install itself is complete, and the metric agrees with /readyz.
func TestRequire(t *testing.T) {
	s := New()
	h := s.Handler()
	var agentErr error = errors.New("the node agent does not answer")
	s.Require(func() error { return agentErr })
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "not ready: starting") {
		t.Errorf("before the install: %d %q, want the install's reason", code, body)
	}
	s.SetReady()
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "not ready: the node agent does not answer") {
		t.Errorf("installed, check failing: %d %q", code, body)
	}
	if _, body := get(t, h, "/metrics"); !strings.Contains(body, "mesh_cni_install_ready 0\n") {
		t.Errorf("metrics say ready while a check fails:\n%s", body)
	}
	agentErr = nil
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Errorf("installed, check passing: %d", code)
	}
	if _, body := get(t, h, "/metrics"); !strings.Contains(body, "mesh_cni_install_ready 1\n") {
		t.Errorf("metrics:\n%s", body)
	}
}
