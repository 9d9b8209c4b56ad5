package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube"
)

// NotReadyTaint is the taint (effect NoSchedule) a node is registered
// with (kubelet --register-with-taints=mesh-cni.io/not-ready=true:NoSchedule)
// so that no pod but those tolerating it, the DaemonSet's and the
// webhook's, is scheduled there before mesh-cni is ready on it; the
// installer removes it from its own node once it is.
const NotReadyTaint = "mesh-cni.io/not-ready"

// untaintTimeout bounds one check of the node.
const untaintTimeout = 10 * time.Second

// untainter removes NotReadyTaint from its node whenever the install is
// ready and the node has it (again: a node registered anew gets it back).
type untainter struct {
	api   *kube.Client
	node  string
	ready func() bool
	log   *slog.Logger
	// missing: the node was not found, and we said so.
	missing bool
}

// run checks every fast interval until the install is ready and the node
// untainted, so that pods wait little after readiness, then every slow
// one (a node registered anew has the taint again), until ctx ends.
func (u *untainter) run(ctx context.Context, fast, slow time.Duration) {
	interval := fast
	for {
		_, err := u.once(ctx)
		if err != nil && ctx.Err() == nil {
			u.log.Warn("removing the node's taint", "taint", NotReadyTaint, "node", u.node, "error", err.Error())
		}
		if err == nil && u.ready() {
			interval = slow
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// once removes the taint when the install is ready and the node has it,
// and says whether it did.
func (u *untainter) once(ctx context.Context) (bool, error) {
	if !u.ready() {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, untaintTimeout)
	defer cancel()
	path := "/api/v1/nodes/" + url.PathEscape(u.node)
	var node struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Spec struct {
			Taints []struct {
				Key string `json:"key"`
			} `json:"taints"`
		} `json:"spec"`
	}
	err := u.api.Get(ctx, path, &node)
	if errors.Is(err, kube.ErrNotFound) {
		// `installer agent` beside no Kubernetes node: nothing to remove.
		if !u.missing {
			u.log.Info("no such node; no taint to remove", "node", u.node, "taint", NotReadyTaint)
		}
		u.missing = true
		return false, nil
	}
	if err != nil {
		return false, err
	}
	u.missing = false
	for i, t := range node.Spec.Taints {
		if t.Key != NotReadyTaint {
			continue
		}
		at := "/spec/taints/" + strconv.Itoa(i)
		// The tests make the removal apply to the node as read: a taint
		// list changed meanwhile fails it, and the next check reads anew.
		ops := []kube.PatchOp{
			{Op: "test", Path: "/metadata/resourceVersion", Value: node.Metadata.ResourceVersion},
			{Op: "test", Path: at + "/key", Value: NotReadyTaint},
			{Op: "remove", Path: at},
		}
		if err := u.api.JSONPatch(ctx, path, ops, nil); err != nil {
			return false, fmt.Errorf("removing taint %s from node %s: %w", NotReadyTaint, u.node, err)
		}
		u.log.Info("mesh-cni is ready on this node; removed its taint", "taint", NotReadyTaint, "node", u.node)
		return true, nil
	}
	return false, nil
}
