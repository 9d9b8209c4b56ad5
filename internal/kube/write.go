package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Get reads the object at path (e.g.
// /api/v1/namespaces/mesh-cni/secrets/x) into out, for callers that bring
// their own types: the admission webhook decodes Kubernetes' API types,
// which the plugin must not link.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	if err := c.do(ctx, "GET", path, nil, out, c.Retries); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// Create POSTs obj to the collection at path and decodes the stored
// object into out (when not nil). An object of that name that exists
// already gives an error for which IsAlreadyExists is true. A transient
// failure is tried again: if the first attempt was stored after all, the
// retry answers AlreadyExists, which callers handle anyway.
func (c *Client) Create(ctx context.Context, path string, obj, out any) error {
	if err := c.do(ctx, "POST", path, obj, out, c.Retries); err != nil {
		return fmt.Errorf("creating in %s: %w", path, err)
	}
	return nil
}

// PatchOp is one operation of a JSON patch (RFC 6902).
type PatchOp struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	// Value is left out only when nil ("remove"); an empty string or
	// false is sent.
	Value any `json:"value,omitempty"`
}

// JSONPatch applies ops (RFC 6902) to the object at path and decodes the
// result into out (when not nil). A "test" op that fails makes the whole
// patch fail (422), so callers can guard what they change.
func (c *Client) JSONPatch(ctx context.Context, path string, ops []PatchOp, out any) error {
	if err := c.send(ctx, "PATCH", path, "application/json-patch+json", ops, out, c.Retries); err != nil {
		return fmt.Errorf("patching %s: %w", path, err)
	}
	return nil
}

// IsAlreadyExists says whether err is the API server's answer to a create
// of an object whose name is taken.
func IsAlreadyExists(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusConflict && apiErr.Reason == "AlreadyExists"
}

// Delete deletes the object at path with the given DeleteOptions body
// (e.g. its preconditions; nil for none). A precondition that no longer
// holds makes the API answer 409 Conflict; an object already gone, 404
// (ErrNotFound).
func (c *Client) Delete(ctx context.Context, path string, opts any) error {
	if err := c.do(ctx, "DELETE", path, opts, nil, c.Retries); err != nil {
		return fmt.Errorf("deleting %s: %w", path, err)
	}
	return nil
}
