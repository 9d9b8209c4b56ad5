package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mesh-cni/mesh-cni/pkg/kube"
	"github.com/mesh-cni/mesh-cni/pkg/kube/object"
	"github.com/mesh-cni/mesh-cni/pkg/validate"
)

// RepairMode is what the node agent does with a pod whose validation
// container found no rules.
type RepairMode string

// Repair modes.
const (
	// RepairDelete deletes the pod (with UID and resourceVersion
	// preconditions) so that its controller creates it again, now through
	// mesh-cni; a pod without a controller is labelled instead.
	RepairDelete RepairMode = "delete"
	// RepairLabel labels the pod UninitializedLabel and leaves it.
	RepairLabel RepairMode = "label"
	// RepairOff does nothing.
	RepairOff RepairMode = "off"
)

// ParseRepairMode accepts a mode's name.
func ParseRepairMode(s string) (RepairMode, error) {
	switch m := RepairMode(s); m {
	case RepairDelete, RepairLabel, RepairOff:
		return m, nil
	}
	return "", fmt.Errorf("unknown repair mode %q (want delete, label or off)", s)
}

// UninitializedLabel marks a pod that ran without its rules and was not
// deleted: `kubectl get pods -l mesh-cni.io/uninitialized=true` lists them.
const UninitializedLabel = "mesh-cni.io/uninitialized"

// Event reasons of repairs.
const (
	ReasonDeleted  = "MeshRulesMissingDeleted"
	ReasonLabelled = "MeshRulesMissingLabelled"
)

// repairPod is the part of a pod repair reads.
type repairPod struct {
	Metadata struct {
		object.ObjectMeta
		OwnerReferences   []struct{ UID string } `json:"ownerReferences"`
		DeletionTimestamp *string                `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		InitContainerStatuses []struct {
			Name      string         `json:"name"`
			State     containerState `json:"state"`
			LastState containerState `json:"lastState"`
		} `json:"initContainerStatuses"`
	} `json:"status"`
}

type containerState struct {
	Terminated *struct {
		ExitCode int `json:"exitCode"`
	} `json:"terminated"`
}

// failedValidation says whether the pod's validation container ever
// terminated with validate.NotRedirectedExitCode (kubelet restarts it, so
// the code may be in the last state only).
func (p *repairPod) failedValidation() bool {
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name != validate.ContainerName {
			continue
		}
		for _, st := range []containerState{s.State, s.LastState} {
			if st.Terminated != nil && st.Terminated.ExitCode == validate.NotRedirectedExitCode {
				return true
			}
		}
	}
	return false
}

// Repairer repairs the pods of its node whose validation failed: their
// sandbox was made while mesh-cni was not in the node's CNI chain.
type Repairer struct {
	// API lists, deletes and labels pods, and records the events.
	API *kube.Client
	// Node is this node's name: only its pods are looked at.
	Node string
	// Mode is what is done with a pod whose validation failed.
	Mode RepairMode
	// Ready says whether this node's install is complete: only then can a
	// pod made again get its rules, so only then does Repairer act.
	Ready func() bool
	Log   *slog.Logger
}

// Run repairs every interval until ctx ends. The list is answered from
// the API server's watch cache (resourceVersion=0) and holds one node's
// pods: cheap, and a failed pod waits at most an interval plus the
// validation container's own bound.
func (r *Repairer) Run(ctx context.Context, interval time.Duration) {
	if r.Mode == RepairOff {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("repairing pods whose validation failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once looks at the node's pods once and repairs those whose validation
// failed, and returns how many it repaired; nothing while not Ready.
func (r *Repairer) Once(ctx context.Context) (int, error) {
	if r.Mode == RepairOff || !r.Ready() {
		return 0, nil
	}
	var list struct{ Items []repairPod }
	q := url.Values{"fieldSelector": {"spec.nodeName=" + r.Node}, "resourceVersion": {"0"}}
	if err := r.API.Get(ctx, "/api/v1/pods?"+q.Encode(), &list); err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for i := range list.Items {
		p := &list.Items[i]
		if !p.failedValidation() || p.Metadata.DeletionTimestamp != nil || p.Metadata.Labels[UninitializedLabel] == "true" {
			continue
		}
		done, err := r.repair(ctx, p)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// repair deletes or labels one pod; a pod changed since the list (its
// preconditions fail) is left for the next pass to see as it is now.
func (r *Repairer) repair(ctx context.Context, p *repairPod) (bool, error) {
	m := p.Metadata
	path := "/api/v1/namespaces/" + url.PathEscape(m.Namespace) + "/pods/" + url.PathEscape(m.Name)
	const why = "its validation container found the pod's TCP not redirected: the pod's sandbox was created while mesh-cni was not in the node's CNI chain, so it has no traffic-redirection rules"
	var err error
	ev := object.Event{Namespace: m.Namespace, PodName: m.Name, PodUID: m.UID, Type: object.EventWarning, Component: "mesh-cni", Host: r.Node}
	if r.Mode == RepairDelete && len(m.OwnerReferences) > 0 {
		pre := map[string]any{"preconditions": map[string]string{"uid": m.UID, "resourceVersion": m.ResourceVersion}}
		err = r.API.Delete(ctx, path, pre)
		ev.Reason, ev.Message = ReasonDeleted, "mesh-cni deleted the pod: "+why+"; its controller creates it again"
	} else {
		err = r.API.JSONPatch(ctx, path, labelOps(p), nil)
		ev.Reason, ev.Message = ReasonLabelled, fmt.Sprintf("mesh-cni labelled the pod %s=true: %s; delete it to have it created again with its rules", UninitializedLabel, why)
		if r.Mode == RepairDelete {
			ev.Message += " (it has no controller, so mesh-cni does not delete it)"
		}
	}
	if err != nil {
		if changed(err) {
			return false, nil
		}
		return false, fmt.Errorf("repairing pod %s/%s: %w", m.Namespace, m.Name, err)
	}
	r.Log.Warn(ev.Message, "namespace", m.Namespace, "name", m.Name, "uid", m.UID, "reason", ev.Reason)
	if err := r.API.CreateEvent(ctx, ev); err != nil {
		r.Log.Warn("recording the repair", "namespace", m.Namespace, "name", m.Name, "error", err.Error())
	}
	return true, nil
}

// labelOps label the pod, guarded by its UID and resourceVersion as the
// delete is.
func labelOps(p *repairPod) []kube.PatchOp {
	ops := []kube.PatchOp{
		{Op: "test", Path: "/metadata/uid", Value: p.Metadata.UID},
		{Op: "test", Path: "/metadata/resourceVersion", Value: p.Metadata.ResourceVersion},
	}
	if p.Metadata.Labels == nil {
		return append(ops, kube.PatchOp{Op: "add", Path: "/metadata/labels", Value: map[string]string{UninitializedLabel: "true"}})
	}
	return append(ops, kube.PatchOp{Op: "add", Path: "/metadata/labels/mesh-cni.io~1uninitialized", Value: "true"})
}

// changed says whether a write failed because the pod is no longer the
// one listed: deleted (404), or its preconditions or tests fail (409,
// 422 for a JSON patch test).
func changed(err error) bool {
	var apiErr *kube.APIError
	return errors.As(err, &apiErr) && (apiErr.Code == http.StatusNotFound || apiErr.Code == http.StatusConflict || apiErr.Code == http.StatusUnprocessableEntity)
}
