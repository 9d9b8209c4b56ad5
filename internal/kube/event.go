package kube

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// coreEvent is a core/v1 Event: the version `kubectl describe pod` lists.
type coreEvent struct {
	Metadata           object.ObjectMeta `json:"metadata"`
	InvolvedObject     objectReference   `json:"involvedObject"`
	Reason             string            `json:"reason"`
	Message            string            `json:"message"`
	Type               string            `json:"type"`
	Source             eventSource       `json:"source"`
	FirstTimestamp     string            `json:"firstTimestamp"`
	LastTimestamp      string            `json:"lastTimestamp"`
	Count              int               `json:"count"`
	ReportingComponent string            `json:"reportingComponent"`
	ReportingInstance  string            `json:"reportingInstance,omitempty"`
}

type objectReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

type eventSource struct {
	Component string `json:"component"`
	Host      string `json:"host,omitempty"`
}

// CreateEvent records ev on its pod, trying once: an event is a report,
// and a slow API must not hold up the pod for it.
func (c *Client) CreateEvent(ctx context.Context, ev object.Event) error {
	now := time.Now().UTC()
	ts := now.Format(time.RFC3339)
	body := coreEvent{
		// The name, like client-go's recorder, is unique per pod and instant.
		Metadata:           object.ObjectMeta{Name: fmt.Sprintf("%s.%x", ev.PodName, now.UnixNano()), Namespace: ev.Namespace},
		InvolvedObject:     objectReference{APIVersion: "v1", Kind: "Pod", Namespace: ev.Namespace, Name: ev.PodName, UID: ev.PodUID},
		Reason:             ev.Reason,
		Message:            ev.Message,
		Type:               ev.Type,
		Source:             eventSource{Component: ev.Component, Host: ev.Host},
		FirstTimestamp:     ts,
		LastTimestamp:      ts,
		Count:              1,
		ReportingComponent: ev.Component,
		ReportingInstance:  ev.Host,
	}
	if err := c.do(ctx, "POST", "/api/v1/namespaces/"+url.PathEscape(ev.Namespace)+"/events", body, nil, 0); err != nil {
		return fmt.Errorf("recording event %s on pod %s/%s: %w", ev.Reason, ev.Namespace, ev.PodName, err)
	}
	return nil
}
