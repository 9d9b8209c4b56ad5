package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// readyWatch watches a namespace's pods and notes when each first is
// Ready, as seen by an API client: the moment `kubectl wait` would return;
// and when each was first seen at all: once it was admitted and stored.
type readyWatch struct {
	mu      sync.Mutex
	readyAt map[string]time.Time
	seenAt  map[string]time.Time
	cancel  context.CancelFunc
	done    chan error
}

// watchReady opens a watch on the namespace's pods with the kubeconfig's
// credentials and returns once the API server has answered, so no event
// after the call is missed.
func watchReady(kubeconfig, namespace string) (*readyWatch, error) {
	cfg, err := kube.LoadKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Server+"/api/v1/namespaces/"+namespace+"/pods?watch=1", nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pod watch request: %w", err)
	}
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLS}}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching pods in %s: %w", namespace, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("watching pods in %s: %s", namespace, resp.Status)
	}
	w := &readyWatch{readyAt: map[string]time.Time{}, seenAt: map[string]time.Time{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev struct {
				Object struct {
					Metadata struct{ Name string }
					Status   struct {
						Conditions []struct{ Type, Status string }
					}
				}
			}
			if err := dec.Decode(&ev); err != nil {
				w.done <- err
				return
			}
			now := time.Now()
			w.mu.Lock()
			if _, seen := w.seenAt[ev.Object.Metadata.Name]; !seen {
				w.seenAt[ev.Object.Metadata.Name] = now
			}
			w.mu.Unlock()
			for _, c := range ev.Object.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					w.mu.Lock()
					if _, seen := w.readyAt[ev.Object.Metadata.Name]; !seen {
						w.readyAt[ev.Object.Metadata.Name] = now
					}
					w.mu.Unlock()
				}
			}
		}
	}()
	return w, nil
}

// wait returns the Ready times of names once all are Ready, or an error
// naming those that are not when the timeout passes or the watch ends.
func (w *readyWatch) wait(ctx context.Context, names []string, timeout time.Duration) (map[string]time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		var missing []string
		for _, n := range names {
			if _, ok := w.readyAt[n]; !ok {
				missing = append(missing, n)
			}
		}
		got := make(map[string]time.Time, len(w.readyAt))
		for k, v := range w.readyAt {
			got[k] = v
		}
		w.mu.Unlock()
		if len(missing) == 0 {
			return got, nil
		}
		select {
		case err := <-w.done:
			return nil, fmt.Errorf("pod watch ended with %d pods not Ready (%v): %w", len(missing), missing, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d pods not Ready within %s: %v", len(missing), timeout, missing)
		}
	}
}

// firstSeen is when the watch first saw the pod name (zero: never).
func (w *readyWatch) firstSeen(name string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seenAt[name]
}

// stop closes the watch.
func (w *readyWatch) stop() { w.cancel() }
