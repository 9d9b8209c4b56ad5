package cni

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Event reasons mesh-cni records on pods.
const (
	ReasonConfigured = "RedirectionConfigured"
	ReasonFailed     = "RedirectionFailed"
	// ReasonSkipped: the pod's mesh intercepts its traffic itself.
	ReasonSkipped = "RedirectionSkipped"
	// ReasonProfileMismatch: the configured profile is not the
	// generation the cluster shows.
	ReasonProfileMismatch = "ProfileMismatch"
	// Component is the reporting component of mesh-cni's events.
	Component = "mesh-cni"
)

// maxEventWait bounds how long an event may hold up the pod: it is a
// report, not part of the work.
const maxEventWait = time.Second

// eventWriter is the part of the Kubernetes client that records events.
type eventWriter interface {
	CreateEvent(ctx context.Context, ev object.Event) error
}

// configuredMessage says what was installed in the words of the seed's
// step 2: the profile (with profile auto, why), and the osm-init command
// line that would have done it.
func configuredMessage(pl *plan) string {
	var sb strings.Builder
	why := ""
	if !pl.choice.Mismatch && pl.choice.Reason != "" {
		why = pl.choice.Reason + "; "
	}
	fmt.Fprintf(&sb, "mesh-cni installed the traffic-redirection rules of profile %s (%ssettings from %s). Equivalent osm-init command", pl.choice.Profile, why, pl.source)
	sets := pl.sets
	for _, rs := range sets {
		if len(sets) > 1 {
			fmt.Fprintf(&sb, " (%s)", rs.Family)
		}
		sb.WriteString(":\n" + rules.RenderOSMInit(rs))
	}
	return sb.String()
}

// skippedMessage is the Normal event's text for a pod whose mesh
// intercepts its traffic itself.
func skippedMessage(reason string) string {
	return "mesh-cni installed no rules: " + reason
}

// mismatchMessage warns that the configured profile may not be the rules
// the pod's mesh expects.
func mismatchMessage(c meshsettings.ProfileChoice) string {
	return fmt.Sprintf("mesh-cni installed the rules of the configured profile %s, but %s; set profile auto in mesh-cni-config to follow the cluster", c.Profile, c.Reason)
}

// failedMessage is the Warning event's text: the same cause the CNI error
// carries, which kubelet also shows as FailedCreatePodSandBox.
func failedMessage(err error) string {
	return "mesh-cni could not configure traffic redirection; the pod will not start until it can: " + err.Error()
}

// recordEvent writes an event on the pod within maxEventWait (or the API
// timeout, if shorter), and only logs a failure to do so.
func recordEvent(w eventWriter, log *slog.Logger, timeout time.Duration, host string, pod podRef, typ, reason, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, maxEventWait))
	defer cancel()
	err := w.CreateEvent(ctx, object.Event{
		Namespace: pod.Namespace, PodName: pod.Name, PodUID: pod.UID,
		Type: typ, Reason: reason, Message: msg, Component: Component, Host: host,
	})
	if err != nil {
		log.Warn("could not record event", "reason", reason, "error", err)
	}
}
