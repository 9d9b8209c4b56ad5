package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/journal"
	"github.com/mesh-cni/mesh-cni/internal/kube"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
)

// RepairMode is what the node agent does with a pod set up without
// mesh-cni.
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
	// ReasonOutOfScope: a pod the plugin leaves alone failed validation;
	// it is labelled, not deleted, since it would be made again without
	// rules.
	ReasonOutOfScope = "MeshValidationOutOfScope"
)

// Repairer repairs the pods of its node set up without mesh-cni: those
// whose validation failed, and, with a Journal, meshed pods without
// validation whose sandbox the plugin has no record of. Their sandbox was
// made while mesh-cni was not in the node's CNI chain.
type Repairer struct {
	// API lists, deletes and labels pods, and records the events.
	API *kube.Client
	// Node is this node's name: only its pods are looked at.
	Node string
	// Mode is what is done with a pod set up without mesh-cni.
	Mode RepairMode
	// Ready says whether this node's install is complete: only then can a
	// pod made again get its rules, so only then does Repairer act.
	Ready func() bool
	// Scope is the plugin's: a pod it leaves alone is never deleted.
	Scope Scope
	// Journal, when set, is the plugin's record of the sandboxes it set
	// up (its run dir); nil leaves pods without validation alone.
	Journal *journal.Journal
	Log     *slog.Logger

	once  sync.Once
	queue chan *repairPod
}

// Once looks at the node's pods once, repairs those set up without
// mesh-cni and forgets the set-up records of pods gone; it returns how
// many it repaired, and nothing while not Ready.
func (r *Repairer) Once(ctx context.Context) (int, error) {
	if r.Mode == RepairOff || !r.Ready() {
		return 0, nil
	}
	var list struct{ Items []repairPod }
	q := url.Values{"fieldSelector": {"spec.nodeName=" + r.Node}, "resourceVersion": {"0"}}
	if err := r.API.Get(ctx, "/api/v1/pods?"+q.Encode(), &list); err != nil {
		return 0, err
	}
	since, has := r.journalNow()
	n := 0
	var errs []error
	live := map[string]bool{}
	for i := range list.Items {
		p := &list.Items[i]
		live[p.Metadata.UID] = true
		done, err := r.act(ctx, p, r.judge(p, since, has))
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			n++
		}
	}
	if r.Journal != nil {
		errs = append(errs, r.Journal.Prune(func(uid string) bool { return live[uid] }, pruneAge))
	}
	return n, errors.Join(errs...)
}

// pruneAge is how old the records of a pod missing from the list must be
// before they go: a pod set up a moment ago may not be in the list yet.
const pruneAge = 10 * time.Minute

// journalNow returns the journal's start and its lookup, or a zero time
// when repair cannot judge by it (no journal, or not begun).
func (r *Repairer) journalNow() (time.Time, func(string, []netip.Addr) bool) {
	if r.Journal == nil {
		return time.Time{}, nil
	}
	since, err := r.Journal.Since()
	if err != nil {
		if !errors.Is(err, journal.ErrNoSince) {
			r.Log.Warn("pods without validation are not checked", "error", err.Error())
		}
		return time.Time{}, nil
	}
	return since, func(uid string, ips []netip.Addr) bool {
		ok, err := r.Journal.Has(uid, ips)
		if err != nil {
			// Unreadable is not absent: never delete on it.
			r.Log.Warn("reading a pod's set-up record", "uid", uid, "error", err.Error())
			return true
		}
		return ok
	}
}

// Why each finding is repaired, for its event.
const (
	whyValidation = "its validation container found the pod's TCP not redirected: the pod's sandbox was created while mesh-cni was not in the node's CNI chain, so it has no traffic-redirection rules"
	whyUnrecorded = "mesh-cni's plugin left no record of setting up the pod's sandbox (the run dir's journal): it was created while mesh-cni was not in the node's CNI chain, so it has no traffic-redirection rules"
)

// act repairs one pod as its finding asks: deleted or labelled; a pod
// changed since it was read (its preconditions fail) is left for the next
// pass to see as it is now.
func (r *Repairer) act(ctx context.Context, p *repairPod, f finding) (bool, error) {
	if f == fine {
		return false, nil
	}
	m := p.Metadata
	path := "/api/v1/namespaces/" + url.PathEscape(m.Namespace) + "/pods/" + url.PathEscape(m.Name)
	why := whyValidation
	if f == unrecorded {
		why = whyUnrecorded
	}
	var err error
	ev := object.Event{Namespace: m.Namespace, PodName: m.Name, PodUID: m.UID, Type: object.EventWarning, Component: "mesh-cni", Host: r.Node}
	switch {
	case f == outOfScope:
		err = r.API.JSONPatch(ctx, path, labelOps(p), nil)
		ev.Reason, ev.Message = ReasonOutOfScope, fmt.Sprintf("mesh-cni labelled the pod %s=true and does not delete it: its validation container found the pod's TCP not redirected, but mesh-cni does not set this pod up (%s), so a pod made again would have no rules either; take its namespace out of mesh-cni's excludeNamespaces, or the pod out of the mesh", UninitializedLabel, p.outOfScope(r.Scope))
	case r.Mode == RepairDelete && len(m.OwnerReferences) > 0:
		pre := map[string]any{"preconditions": map[string]string{"uid": m.UID, "resourceVersion": m.ResourceVersion}}
		err = r.API.Delete(ctx, path, pre)
		ev.Reason, ev.Message = ReasonDeleted, "mesh-cni deleted the pod: "+why+"; its controller creates it again"
	default:
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
