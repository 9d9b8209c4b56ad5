package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// apiServer answers like kube-apiserver from a table of path -> answers
// (served in turn; the last one repeats) and records every request.
type apiServer struct {
	*httptest.Server
	mu       sync.Mutex
	answers  map[string][]answer
	requests []string
	bodies   []string
}

type answer struct {
	code int
	body string
}

const (
	notServed     = `404 page not found`
	objectMissing = `{"kind":"Status","status":"Failure","message":"meshconfigs.config.openservicemesh.io \"osm-mesh-config\" not found","reason":"NotFound","details":{"name":"osm-mesh-config","kind":"meshconfigs"},"code":404}`
)

func newAPIServer(t *testing.T, answers map[string][]answer) *apiServer {
	s := &apiServer{answers: answers}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		s.requests = append(s.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		s.bodies = append(s.bodies, string(body))
		as := s.answers[r.Method+" "+r.URL.Path]
		if len(as) == 0 {
			http.Error(w, notServed, http.StatusNotFound)
			return
		}
		a := as[0]
		if len(as) > 1 {
			s.answers[r.Method+" "+r.URL.Path] = as[1:]
		}
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// kubeconfig writes a kubeconfig for the server with the given user block.
func (s *apiServer) kubeconfig(t *testing.T, user string) string {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	content := fmt.Sprintf(`# written by a test
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: "%s"
    certificate-authority-data: %s
users:
- name: plugin
  user:
%s
contexts:
- context:
    cluster: local
    user: plugin
  name: plugin
current-context: plugin
preferences: {}
`, s.URL, base64.StdEncoding.EncodeToString(ca), user)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *apiServer) client(t *testing.T) *Client {
	t.Helper()
	cfg, err := LoadKubeconfig(s.kubeconfig(t, "    token: secret-token"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(cfg)
	c.Backoff = time.Millisecond
	t.Cleanup(c.Close)
	return c
}

func TestLoadKubeconfigAuth(t *testing.T) {
	s := newAPIServer(t, map[string][]answer{"GET /api/v1/namespaces/test/pods/web-1": {{200, `{"metadata":{"name":"web-1","namespace":"test","uid":"u-1"}}`}}})
	tests := []struct {
		name, user, wantAuth string
		files                map[string]string
	}{
		{"inline token", "    token: secret-token", "Bearer secret-token", nil},
		{"token file relative to the kubeconfig", "    tokenFile: token", "Bearer from-file", map[string]string{"token": "from-file\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := s.kubeconfig(t, tt.user)
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(filepath.Dir(path), name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := LoadKubeconfig(path)
			if err != nil {
				t.Fatal(err)
			}
			c := NewClient(cfg)
			defer c.Close()
			pod, err := c.GetPod(context.Background(), "test", "web-1")
			if err != nil || pod.Metadata.UID != "u-1" {
				t.Fatalf("GetPod = %+v, %v", pod, err)
			}
			if got := s.requests[len(s.requests)-1]; !strings.HasSuffix(got, tt.wantAuth) {
				t.Errorf("request %q, want authorization %q", got, tt.wantAuth)
			}
		})
	}
}

func TestLoadKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"no context", "clusters: []\ncontexts: []\n", `context "" not found`},
		{"unknown cluster", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\n", `cluster "x" not found`},
		{"no server", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: x}\nclusters:\n- name: x\n  cluster: {}\n", `cluster "x" has no server`},
		{"bad CA", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: x}\nclusters:\n- name: x\n  cluster: {server: 'https://h', certificate-authority-data: 'bm90IHBlbQ=='}\n", "no PEM certificate"},
		{"not YAML", "clusters: [", "parsing kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			os.WriteFile(path, []byte(tt.content), 0o600)
			if _, err := LoadKubeconfig(path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadKubeconfig(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing kubeconfig: %v, want ErrNotExist", err)
	}
}

const (
	v2Path = "GET /apis/config.openservicemesh.io/v1alpha2/namespaces/osm-system/meshconfigs/osm-mesh-config"
	v1Path = "GET /apis/config.openservicemesh.io/v1alpha1/namespaces/osm-system/meshconfigs/osm-mesh-config"
	mcBody = `{"apiVersion":"config.openservicemesh.io/%s","spec":{"traffic":{"outboundPortExclusionList":[6379]}}}`
)

func TestGetMeshConfig(t *testing.T) {
	tests := []struct {
		name         string
		answers      map[string][]answer
		wantVersion  string
		wantNotFound bool
		wantRequests int
	}{
		{"v1alpha2", map[string][]answer{v2Path: {{200, fmt.Sprintf(mcBody, "v1alpha2")}}}, "config.openservicemesh.io/v1alpha2", false, 1},
		{"v1alpha1 when v1alpha2 is not served", map[string][]answer{v1Path: {{200, fmt.Sprintf(mcBody, "v1alpha1")}}}, "config.openservicemesh.io/v1alpha1", false, 2},
		{"no CRD", nil, "", true, 2},
		{"v1alpha2 served, no object: v1alpha1 not asked", map[string][]answer{v2Path: {{404, objectMissing}}}, "", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAPIServer(t, tt.answers)
			mc, err := s.client(t).GetMeshConfig(context.Background(), "osm-system", "osm-mesh-config")
			if tt.wantNotFound {
				if !errors.Is(err, ErrNotFound) || IsTransient(err) {
					t.Fatalf("error = %v, want not found", err)
				}
			} else if err != nil || mc.APIVersion != tt.wantVersion || len(mc.Spec.Traffic.OutboundPortExclusionList) != 1 {
				t.Fatalf("GetMeshConfig = %+v, %v", mc, err)
			}
			if len(s.requests) != tt.wantRequests {
				t.Errorf("requests %v, want %d", s.requests, tt.wantRequests)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	const path = "GET /api/v1/namespaces/osm-system/configmaps/osm-config"
	tests := []struct {
		name          string
		answers       []answer
		wantErr       string
		wantTransient bool
		wantRequests  int
	}{
		{"503 then 200", []answer{{503, `{"message":"etcd leader changed"}`}, {200, `{"data":{"a":"b"}}`}}, "", false, 2},
		{"503 three times", []answer{{503, `{"message":"etcd leader changed"}`}}, "503 etcd leader changed", true, 3},
		{"429 is transient", []answer{{429, `{"message":"too many requests"}`}}, "429", true, 3},
		{"403 is not retried", []answer{{403, `{"message":"configmaps \"osm-config\" is forbidden"}`}}, "is forbidden", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAPIServer(t, map[string][]answer{path: tt.answers})
			_, err := s.client(t).GetConfigMap(context.Background(), "osm-system", "osm-config")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if err != nil && (IsTransient(err) != tt.wantTransient || IsUnreachable(err)) {
				t.Errorf("transient %v unreachable %v", IsTransient(err), IsUnreachable(err))
			}
			if len(s.requests) != tt.wantRequests {
				t.Errorf("%d requests, want %d", len(s.requests), tt.wantRequests)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	s := newAPIServer(t, nil)
	c := s.client(t)
	s.Close()
	_, err := c.GetPod(context.Background(), "test", "web-1")
	if !IsUnreachable(err) || !IsTransient(err) || !strings.Contains(err.Error(), "reading pod test/web-1") {
		t.Fatalf("error = %v, want unreachable and transient", err)
	}
}

func TestCreateEvent(t *testing.T) {
	s := newAPIServer(t, map[string][]answer{"POST /api/v1/namespaces/test/events": {{201, `{}`}}})
	err := s.client(t).CreateEvent(context.Background(), object.Event{Namespace: "test", PodName: "web-1", PodUID: "u-1",
		Type: object.EventNormal, Reason: "RedirectionConfigured", Message: "done", Component: "mesh-cni", Host: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(s.bodies[0]), &ev); err != nil {
		t.Fatal(err)
	}
	obj := ev["involvedObject"].(map[string]any)
	if obj["kind"] != "Pod" || obj["name"] != "web-1" || obj["uid"] != "u-1" || ev["reportingComponent"] != "mesh-cni" ||
		ev["reason"] != "RedirectionConfigured" || ev["type"] != "Normal" || ev["source"].(map[string]any)["component"] != "mesh-cni" {
		t.Errorf("event body %s", s.bodies[0])
	}
	if name := ev["metadata"].(map[string]any)["name"].(string); !strings.HasPrefix(name, "web-1.") {
		t.Errorf("event name %q", name)
	}
}
