package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// ErrNotFound is returned (wrapped) when the object does not exist.
var ErrNotFound = object.ErrNotFound

// APIError is an answer from the API server other than success.
type APIError struct {
	// Method and Path are the request's.
	Method, Path string
	// Code is the HTTP status code.
	Code int
	// Message is the server's Status message, or the body's start.
	Message string
	// ObjectMissing is set on a 404 whose Status names a kind: the
	// resource is served and only the object is missing, unlike a 404 for
	// a path the server does not serve at all.
	ObjectMissing bool
	// Reason is the Status reason, e.g. AlreadyExists; empty when the
	// answer was no Status.
	Reason string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Code, e.Message)
}

// Is makes a 404 match ErrNotFound.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// IsTransient says whether a failed request may succeed if tried again
// shortly: the server could not be reached or answered in time, was
// overloaded or failing (429, 5xx), or refused a credential that the
// installer is about to rotate (401).
func IsTransient(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == http.StatusTooManyRequests || apiErr.Code == http.StatusUnauthorized || apiErr.Code >= 500
	}
	return IsUnreachable(err)
}

// IsUnreachable says whether err means no answer came from the server at
// all (connection refused, timeout, DNS, TLS), so writing anything else to
// it is pointless.
func IsUnreachable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// Client does mesh-cni's requests to one API server.
type Client struct {
	server string
	// tokenMu guards token: the agent replaces it while requests run.
	tokenMu sync.RWMutex
	token   string
	http    *http.Client
	// Retries is how many times a transient failure is tried again.
	Retries int
	// Backoff is the pause before the first retry; it doubles each time.
	Backoff time.Duration
}

// NewClient returns a client for cfg. Callers bound each call with their
// context's deadline.
//
// The client serves the node agent, which holds watches open for minutes
// and answers bursts of pod starts: HTTP/2 puts the watches and concurrent
// reads on one connection (one TLS handshake, not one per request beyond
// the idle pool), and its pings, like TCP keep-alives, notice a connection
// that died silently - a watch on it would otherwise keep the agent's
// cache "live" with stale data until the watch's own timeout.
func NewClient(cfg Config) *Client {
	tr := &http.Transport{
		TLSClientConfig:     cfg.TLS,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 2 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		DisableCompression:  true,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second},
	}
	return &Client{server: cfg.Server, token: cfg.Token, http: &http.Client{Transport: tr}, Retries: 2, Backoff: 50 * time.Millisecond}
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// SetToken replaces the bearer token for the requests that follow, since a
// projected service-account token is rotated while the agent runs. It is
// safe to call while other requests are under way.
func (c *Client) SetToken(token string) {
	c.tokenMu.Lock()
	c.token = token
	c.tokenMu.Unlock()
}

// do sends one request, retrying transient failures while ctx allows, and
// decodes a successful JSON answer into out (when out is not nil).
func (c *Client) do(ctx context.Context, method, path string, body any, out any, retries int) error {
	return c.send(ctx, method, path, "application/json", body, out, retries)
}

// send is do with the body's content type, which a PATCH names.
func (c *Client) send(ctx context.Context, method, path, contentType string, body any, out any, retries int) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
	}
	wait := c.Backoff
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, path, contentType, payload, out)
		if err == nil || attempt >= retries || !IsTransient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) once(ctx context.Context, method, path, contentType string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := c.newRequest(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if payload != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(method, path, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

// newRequest makes a request to path carrying the current token.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mesh-cni")
	c.tokenMu.RLock()
	token := c.token
	c.tokenMu.RUnlock()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// newAPIError describes a failed answer from its status code and body.
func newAPIError(method, path string, code int, data []byte) *APIError {
	msg, kind, reason := statusMessage(data)
	return &APIError{Method: method, Path: path, Code: code, Message: msg, ObjectMissing: code == http.StatusNotFound && kind != "", Reason: reason}
}

// statusMessage extracts a metav1.Status message, the kind it names and
// its reason, or the body's start.
func statusMessage(data []byte) (msg, kind, reason string) {
	var st struct {
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Details struct {
			Kind string `json:"kind"`
		} `json:"details"`
	}
	if json.Unmarshal(data, &st) == nil && st.Message != "" {
		return st.Message, st.Details.Kind, st.Reason
	}
	if len(data) > 200 {
		data = data[:200]
	}
	return string(bytes.TrimSpace(data)), "", ""
}
