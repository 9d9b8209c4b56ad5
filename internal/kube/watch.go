package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
)

// listPageSize bounds each list answer: a page of pods is a few MB at most.
const listPageSize = 500

// maxListPage caps what one page may take, so a broken server cannot make
// the agent read without end; it is far above 500 real pods.
const maxListPage = 256 << 20

// List reads the whole collection at path (e.g. /api/v1/pods) narrowed by
// query (e.g. fieldSelector), following the server's pages, and returns the
// items undecoded with the resourceVersion to watch from. It tries once:
// the caller decides how to back off.
func (c *Client) List(ctx context.Context, path string, query url.Values) (items []json.RawMessage, resourceVersion string, err error) {
	q := cloneQuery(query)
	q.Set("limit", strconv.Itoa(listPageSize))
	for {
		var page struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
				Continue        string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		resp, err := c.open(ctx, path, q)
		if err != nil {
			return nil, "", err
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxListPage)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, "", fmt.Errorf("GET %s: decoding list: %w", path, err)
		}
		items = append(items, page.Items...)
		// Every page is read at the first page's resourceVersion, so the
		// last one names the state the items add up to.
		if page.Metadata.Continue == "" {
			return items, page.Metadata.ResourceVersion, nil
		}
		q.Set("continue", page.Metadata.Continue)
	}
}

// Watch event types, as the API server sends them. BOOKMARK and ERROR never
// reach a WatchStream's caller.
const (
	WatchAdded    = "ADDED"
	WatchModified = "MODIFIED"
	WatchDeleted  = "DELETED"
)

// WatchStream is an open watch: the server's events, one at a time. It is
// not safe for concurrent use; cancel the context given to Watch to stop a
// Next that waits.
type WatchStream struct {
	path string
	body io.ReadCloser
	dec  *json.Decoder
	rv   string
}

// Watch opens a watch on the collection at path, narrowed by query, for
// the changes after resourceVersion (as List returned it). The stream
// lasts until the server ends it (query's timeoutSeconds, or its own
// limit) or ctx ends; the client sets no timeout of its own, so bound it
// with ctx.
func (c *Client) Watch(ctx context.Context, path string, query url.Values, resourceVersion string) (*WatchStream, error) {
	q := cloneQuery(query)
	q.Set("watch", "true")
	q.Set("resourceVersion", resourceVersion)
	// Bookmarks keep the resourceVersion current on a quiet collection.
	q.Set("allowWatchBookmarks", "true")
	resp, err := c.open(ctx, path, q)
	if err != nil {
		return nil, err
	}
	return &WatchStream{path: path, body: resp.Body, dec: json.NewDecoder(resp.Body), rv: resourceVersion}, nil
}

// Next waits for the next change and returns its type (WatchAdded,
// WatchModified or WatchDeleted) and the object as the server sent it. It
// returns io.EOF when the server ended the stream; an ERROR event becomes
// an *APIError with the Status's code, where 410 Gone means the
// resourceVersion is too old to watch from and the caller must list again.
func (w *WatchStream) Next() (eventType string, object json.RawMessage, err error) {
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := w.dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return "", nil, io.EOF
			}
			return "", nil, fmt.Errorf("watching %s: %w", w.path, err)
		}
		switch ev.Type {
		case "ERROR":
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(ev.Object, &st); err != nil || st.Code == 0 {
				st.Code, st.Message = http.StatusInternalServerError, string(ev.Object)
			}
			return "", nil, &APIError{Method: "WATCH", Path: w.path, Code: st.Code, Message: st.Message}
		case "BOOKMARK", WatchAdded, WatchModified, WatchDeleted:
			var meta struct {
				Metadata struct {
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(ev.Object, &meta); err != nil {
				return "", nil, fmt.Errorf("watching %s: decoding %s event: %w", w.path, ev.Type, err)
			}
			if meta.Metadata.ResourceVersion != "" {
				w.rv = meta.Metadata.ResourceVersion
			}
			if ev.Type != "BOOKMARK" {
				return ev.Type, ev.Object, nil
			}
		default:
			return "", nil, fmt.Errorf("watching %s: unknown event type %q", w.path, ev.Type)
		}
	}
}

// ResourceVersion is the version of the last event or bookmark read: a
// watch opened from it continues where this one stopped.
func (w *WatchStream) ResourceVersion() string { return w.rv }

// Close ends the stream.
func (w *WatchStream) Close() error { return w.body.Close() }

// open sends a GET for path?query and returns the answer when it is a
// success, its body unread.
func (c *Client) open(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	req, err := c.newRequest(ctx, "GET", path+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, newAPIError("GET", path, resp.StatusCode, data)
	}
	return resp, nil
}

// cloneQuery copies q so that setting keys leaves the caller's untouched.
func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	maps.Copy(out, q)
	return out
}
