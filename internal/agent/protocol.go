// Package agent is how the plugin asks the node agent (the mesh-cni
// DaemonSet's pod on the same node) for what it needs from Kubernetes:
// the pod, the MeshConfig or osm-config ConfigMap, and the recording of
// an event. The agent holds a warm, watch-backed view of the API; the
// plugin, exec'd afresh for every pod, would otherwise pay for a TLS
// handshake and several round trips on each ADD.
//
// The protocol is one JSON Request per line on a unix socket, each answered
// by one JSON Response line. This package is the plugin's side and links
// neither net/http nor crypto/tls; the agent's side is package
// agent/server.
package agent

import (
	"errors"
	"fmt"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// DefaultSocket is where the agent listens: the run directory the
// DaemonSet shares with the host.
const DefaultSocket = "/var/run/mesh-cni/agent.sock"

// The operations a Request names.
const (
	// OpPod reads the pod Namespace/Name (of UID, when given).
	OpPod = "pod"
	// OpMeshConfig reads the MeshConfig Namespace/Name.
	OpMeshConfig = "meshconfig"
	// OpConfigMap reads the ConfigMap Namespace/Name.
	OpConfigMap = "configmap"
	// OpEvent queues Event for recording; the answer does not wait for
	// the API.
	OpEvent = "event"
	// OpPing asks whether the agent is serving.
	OpPing = "ping"
)

// Request is one question to the agent.
type Request struct {
	Op        string        `json:"op"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name,omitempty"`
	UID       string        `json:"uid,omitempty"`
	Event     *object.Event `json:"event,omitempty"`
}

// Response is the agent's answer: one object, or Error.
type Response struct {
	Pod        *object.Pod        `json:"pod,omitempty"`
	MeshConfig *object.MeshConfig `json:"meshConfig,omitempty"`
	ConfigMap  *object.ConfigMap  `json:"configMap,omitempty"`
	Error      *Error             `json:"error,omitempty"`
}

// Error is a failure the agent reports, classified so that the plugin can
// choose its CNI error code.
type Error struct {
	Message string `json:"message"`
	// NotFound: the object does not exist.
	NotFound bool `json:"notFound,omitempty"`
	// Transient: trying again shortly may succeed (the API server was
	// unreachable, overloaded or refused a credential about to rotate).
	Transient bool `json:"transient,omitempty"`
	// Unreachable: no answer came from the API server at all, so writing
	// an event there is pointless.
	Unreachable bool `json:"unreachable,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Is makes a NotFound error match object.ErrNotFound.
func (e *Error) Is(target error) bool { return target == object.ErrNotFound && e.NotFound }

// UnavailableError means the agent itself could not be asked: not
// listening (not started yet, restarting), or it did not answer in time.
type UnavailableError struct {
	Socket string
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the mesh-cni agent on this node (%s) did not answer: %v; it runs in the mesh-cni DaemonSet's pod on this node (kubectl -n mesh-cni get pods -o wide)", e.Socket, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// IsTransient says whether err may go away if the runtime tries again
// shortly: the agent was unavailable, or it reported a transient failure.
func IsTransient(err error) bool {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Transient
	}
	var ue *UnavailableError
	return errors.As(err, &ue)
}

// IsUnreachable says whether err means nothing can be recorded through the
// agent now: the agent, or the API server behind it, gave no answer.
func IsUnreachable(err error) bool {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Unreachable
	}
	var ue *UnavailableError
	return errors.As(err, &ue)
}
