package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// Client is one plugin invocation's connection to the agent. It is not
// safe for concurrent use: the plugin asks one question at a time.
type Client struct {
	socket string
	conn   net.Conn
	enc    *json.Encoder
	dec    *json.Decoder
	// unread counts the answers to events not read yet.
	unread int
}

// Dial connects to the agent's socket, within ctx's deadline.
func Dial(ctx context.Context, socket string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, &UnavailableError{Socket: socket, Err: err}
	}
	return &Client{socket: socket, conn: conn, enc: json.NewEncoder(conn), dec: json.NewDecoder(bufio.NewReader(conn))}, nil
}

// Close ends the connection.
func (c *Client) Close() { c.conn.Close() }

// GetPod reads a pod; uid, when not empty, is the one the runtime is
// setting up, which lets the agent tell a cached pod from its replacement.
func (c *Client) GetPod(ctx context.Context, namespace, name, uid string) (*object.Pod, error) {
	return get(c, ctx, Request{Op: OpPod, Namespace: namespace, Name: name, UID: uid}, "pod",
		func(r *Response) *object.Pod { return r.Pod })
}

// GetMeshConfig reads a MeshConfig at the newest version served; an error
// matching object.ErrNotFound means there is none.
func (c *Client) GetMeshConfig(ctx context.Context, namespace, name string) (*object.MeshConfig, error) {
	return get(c, ctx, Request{Op: OpMeshConfig, Namespace: namespace, Name: name}, "MeshConfig",
		func(r *Response) *object.MeshConfig { return r.MeshConfig })
}

// GetConfigMap reads a ConfigMap.
func (c *Client) GetConfigMap(ctx context.Context, namespace, name string) (*object.ConfigMap, error) {
	return get(c, ctx, Request{Op: OpConfigMap, Namespace: namespace, Name: name}, "ConfigMap",
		func(r *Response) *object.ConfigMap { return r.ConfigMap })
}

// get asks for one object and picks it out of the answer.
func get[T any](c *Client, ctx context.Context, req Request, kind string, pick func(*Response) *T) (*T, error) {
	resp, err := c.call(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", kind, req.Namespace, req.Name, err)
	}
	if obj := pick(resp); obj != nil {
		return obj, nil
	}
	return nil, &UnavailableError{Socket: c.socket, Err: errors.New("answer without the " + kind)}
}

// CreateEvent hands ev to the agent, which records it on the pod later,
// and returns once the request is written: the agent's answer would only
// say that it queued the event, and the plugin, which sends the event
// last, need not wait a round trip for that. A later call on the client
// reads and drops that answer first. The agent reads a request the plugin
// wrote before closing the connection, so exiting at once loses nothing.
func (c *Client) CreateEvent(ctx context.Context, ev object.Event) error {
	if err := c.send(ctx, Request{Op: OpEvent, Event: &ev}); err != nil {
		return fmt.Errorf("recording event %s on pod %s/%s: %w", ev.Reason, ev.Namespace, ev.PodName, err)
	}
	c.unread++
	return nil
}

// Ping checks that the agent answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpPing})
	return err
}

// send writes one request within ctx's deadline.
func (c *Client) send(ctx context.Context, req Request) error {
	deadline, _ := ctx.Deadline() // none: the zero time, no deadline
	if err := c.conn.SetDeadline(deadline); err != nil {
		return &UnavailableError{Socket: c.socket, Err: err}
	}
	if err := c.enc.Encode(req); err != nil {
		return &UnavailableError{Socket: c.socket, Err: err}
	}
	return nil
}

// call sends one request and reads its answer, after the answers to
// events sent before it.
func (c *Client) call(ctx context.Context, req Request) (*Response, error) {
	if err := c.send(ctx, req); err != nil {
		return nil, err
	}
	var resp Response
	for ; c.unread >= 0; c.unread-- {
		resp = Response{}
		if err := c.dec.Decode(&resp); err != nil {
			return nil, &UnavailableError{Socket: c.socket, Err: err}
		}
	}
	c.unread = 0
	if resp.Error != nil {
		return nil, resp.Error
	}
	return &resp, nil
}
