package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// handlerServer is an apiServer answering with h, for requests whose query
// matters.
func handlerServer(t *testing.T, h http.HandlerFunc) *apiServer {
	s := &apiServer{Server: httptest.NewTLSServer(h)}
	t.Cleanup(s.Close)
	return s
}

func TestListFollowsPages(t *testing.T) {
	var queries []url.Values
	s := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.Query())
		if r.URL.Query().Get("continue") == "" {
			io.WriteString(w, `{"metadata":{"resourceVersion":"10","continue":"page-2"},"items":[{"metadata":{"name":"a"}}]}`)
		} else {
			io.WriteString(w, `{"metadata":{"resourceVersion":"10"},"items":[{"metadata":{"name":"b"}}]}`)
		}
	})
	query := url.Values{"fieldSelector": {"spec.nodeName=n1"}}
	items, rv, err := s.client(t).List(context.Background(), "/api/v1/pods", query)
	if err != nil || rv != "10" || len(items) != 2 || !strings.Contains(string(items[1]), `"b"`) {
		t.Fatalf("List = %s, %q, %v", items, rv, err)
	}
	if len(queries) != 2 || queries[1].Get("continue") != "page-2" || queries[1].Get("fieldSelector") != "spec.nodeName=n1" || queries[0].Get("limit") == "" {
		t.Errorf("queries %v", queries)
	}
	if len(query) != 1 {
		t.Errorf("List changed the caller's query: %v", query)
	}
}

func TestListNotServed(t *testing.T) {
	s := newAPIServer(t, nil)
	_, _, err := s.client(t).List(context.Background(), "/apis/config.openservicemesh.io/v1alpha2/meshconfigs", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 404 || !errors.Is(err, ErrNotFound) || IsTransient(err) {
		t.Fatalf("error = %v, want a 404 APIError", err)
	}
}

func TestWatchStream(t *testing.T) {
	var query url.Values
	s := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.Query()
		for _, line := range []string{
			`{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}}`,
			`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"15"}}}`,
			`{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"16"}}}`,
			`{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"17"}}}`,
			`{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 10 (17)","reason":"Expired","code":410}}`,
		} {
			io.WriteString(w, line+"\n")
		}
	})
	w, err := s.client(t).Watch(context.Background(), "/api/v1/pods", url.Values{"fieldSelector": {"spec.nodeName=n1"}}, "10")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if query.Get("watch") != "true" || query.Get("allowWatchBookmarks") != "true" || query.Get("resourceVersion") != "10" || query.Get("fieldSelector") != "spec.nodeName=n1" {
		t.Errorf("query %v", query)
	}
	// The bookmark advances the version without reaching the caller.
	for _, want := range []struct{ typ, rv string }{{WatchAdded, "11"}, {WatchModified, "16"}, {WatchDeleted, "17"}} {
		typ, obj, err := w.Next()
		if err != nil || typ != want.typ || !strings.Contains(string(obj), `"name":"a"`) || w.ResourceVersion() != want.rv {
			t.Fatalf("Next = %q %s %v at %s, want %s at %s", typ, obj, err, w.ResourceVersion(), want.typ, want.rv)
		}
	}
	_, _, err = w.Next()
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusGone || !strings.Contains(err.Error(), "too old") {
		t.Fatalf("ERROR event gave %v, want a 410 APIError", err)
	}
}

func TestWatchEnds(t *testing.T) {
	release := make(chan struct{})
	s := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}}`+"\n")
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("hold") != "" {
			<-release
		}
	})
	defer close(release)
	c := s.client(t)

	// A stream the server ends cleanly reports io.EOF.
	w, err := c.Watch(context.Background(), "/api/v1/pods", nil, "10")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Next(); err != io.EOF {
		t.Errorf("after the server's end: %v, want io.EOF", err)
	}
	w.Close()

	// A stream the server holds open ends with the caller's context.
	ctx, cancel := context.WithCancel(context.Background())
	w, err = c.Watch(ctx, "/api/v1/pods", url.Values{"hold": {"1"}}, "10")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, _, err := w.Next(); err == nil || err == io.EOF || time.Since(start) > 5*time.Second {
		t.Errorf("after cancel: %v after %v, want an error soon", err, time.Since(start))
	}
}

func TestSetToken(t *testing.T) {
	s := newAPIServer(t, map[string][]answer{"GET /api/v1/namespaces/test/pods/web-1": {{200, `{"metadata":{"name":"web-1"}}`}}})
	c := s.client(t)
	if _, err := c.GetPod(context.Background(), "test", "web-1"); err != nil {
		t.Fatal(err)
	}
	c.SetToken("rotated")
	if _, err := c.GetPod(context.Background(), "test", "web-1"); err != nil {
		t.Fatal(err)
	}
	if got := s.requests; !strings.HasSuffix(got[0], "Bearer secret-token") || !strings.HasSuffix(got[1], "Bearer rotated") {
		t.Errorf("requests %q, want the token replaced", got)
	}
	// Rotation while requests run (go test -race).
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); c.SetToken(fmt.Sprint("t", i)) }()
		go func() { defer wg.Done(); c.GetPod(context.Background(), "test", "web-1") }()
	}
	wg.Wait()
}

// TestWatchAPIServer lists and watches pods on a real kube-apiserver.
func TestWatchAPIServer(t *testing.T) {
	cp, c := adminClient(t)
	cp.Kubectl(t, "create", "namespace", "demo")
	cp.Apply(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: before, namespace: demo}\nspec: {nodeName: n1, containers: [{name: app, image: app}]}\n")
	cp.Apply(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: elsewhere, namespace: demo}\nspec: {nodeName: n2, containers: [{name: app, image: app}]}\n")

	onN1 := url.Values{"fieldSelector": {"spec.nodeName=n1"}}
	items, rv, err := c.List(context.Background(), "/api/v1/pods", onN1)
	if err != nil || len(items) != 1 || !strings.Contains(string(items[0]), `"name":"before"`) || rv == "" {
		t.Fatalf("List = %s, %q, %v; want pod before only", items, rv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := c.Watch(ctx, "/api/v1/pods", onN1, rv)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cp.Apply(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: ignored, namespace: demo}\nspec: {nodeName: n2, containers: [{name: app, image: app}]}\n")
	cp.Apply(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: after, namespace: demo}\nspec: {nodeName: n1, containers: [{name: app, image: app}]}\n")
	cp.Kubectl(t, "annotate", "pod", "after", "-n", "demo", "mesh=yes")
	cp.Kubectl(t, "delete", "pod", "after", "-n", "demo", "--grace-period=0", "--force")
	for _, want := range []struct{ typ, has string }{{WatchAdded, `"name":"after"`}, {WatchModified, `"mesh":"yes"`}} {
		typ, obj, err := w.Next()
		if err != nil || typ != want.typ || !strings.Contains(string(obj), want.has) {
			t.Fatalf("Next = %q %.200s %v, want %s with %s", typ, obj, err, want.typ, want.has)
		}
	}
	// Deleting may first set deletionTimestamp (MODIFIED).
	for {
		typ, obj, err := w.Next()
		if err != nil || typ == WatchAdded || !strings.Contains(string(obj), `"name":"after"`) {
			t.Fatalf("Next = %q %.200s %v, want pod after's deletion", typ, obj, err)
		}
		if typ == WatchDeleted {
			break
		}
	}
	if w.ResourceVersion() == rv {
		t.Errorf("resourceVersion still %s after three events", rv)
	}
}
