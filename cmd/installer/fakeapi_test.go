package main

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAPI is the least API server the node agent syncs against: an empty
// list of the node's pods and a watch of it that stays open with nothing
// to say; every other read is not found. It records what it was asked
// and with which token. TestAgentReadsTheAPI uses a real one.
type fakeAPI struct {
	srv  *httptest.Server
	done chan struct{}
	// ca is the PEM certificate that verifies the server.
	ca []byte

	mu       sync.Mutex
	requests []string // path?query, decoded
	tokens   []string // bearer tokens, in order
}

func startFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{done: make(chan struct{})}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	f.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	t.Cleanup(func() {
		close(f.done)
		f.srv.Close()
	})
	return f
}

// hostPort is the server's address, as KUBERNETES_SERVICE_HOST and _PORT.
func (f *fakeAPI) hostPort() (string, string) {
	u, _ := url.Parse(f.srv.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	return host, port
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	q, _ := url.QueryUnescape(r.URL.RawQuery)
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path+"?"+q)
	f.tokens = append(f.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("watch") == "true":
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
	case r.URL.Path == "/api/v1/pods":
		fmt.Fprint(w, `{"metadata":{"resourceVersion":"1"},"items":[]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"kind":"Status","code":404,"message":"%s not found","details":{"kind":"pods"}}`, r.URL.Path)
	}
}

// sawToken says whether a request carried token.
func (f *fakeAPI) sawToken(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.tokens, token)
}

// asked says whether a request's path?query (decoded) contained all of
// parts.
func (f *fakeAPI) asked(parts ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.requests, func(req string) bool {
		for _, p := range parts {
			if !strings.Contains(req, p) {
				return false
			}
		}
		return true
	})
}

// log is what the server was asked, for failure messages.
func (f *fakeAPI) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}
