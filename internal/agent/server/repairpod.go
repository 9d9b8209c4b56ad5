package server

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/scope"
	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// repairPod is the part of a pod repair reads.
type repairPod struct {
	Metadata struct {
		object.ObjectMeta
		OwnerReferences   []struct{ UID string } `json:"ownerReferences"`
		DeletionTimestamp *string                `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec   object.PodSpec `json:"spec"`
	Status struct {
		PodIPs     []struct{ IP string } `json:"podIPs"`
		Conditions []struct {
			Type               string    `json:"type"`
			Status             string    `json:"status"`
			LastTransitionTime time.Time `json:"lastTransitionTime"`
		} `json:"conditions"`
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

// validated says whether the pod has the validation container: then its
// exit code, not the journal, says whether it has its rules.
func (p *repairPod) validated() bool {
	return slices.ContainsFunc(p.Spec.InitContainers, func(c object.Container) bool { return c.Name == validate.ContainerName })
}

// sandboxReady returns when kubelet last reported the pod's sandbox ready
// (condition PodReadyToStartContainers, Kubernetes 1.29 and later; the
// API keeps whole seconds), and whether it is ready now.
func (p *repairPod) sandboxReady() (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == "PodReadyToStartContainers" {
			return c.LastTransitionTime, c.Status == "True"
		}
	}
	return time.Time{}, false
}

// ips are the pod's addresses as kubelet reports them.
func (p *repairPod) ips() []netip.Addr {
	var out []netip.Addr
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// outOfScope says why the plugin leaves the pod alone, or "".
func (p *repairPod) outOfScope(s Scope) string {
	if why := scope.Namespace(s.ExcludeNamespaces, p.Metadata.Namespace); why != "" {
		return why
	}
	return scope.Pod(s.SidecarContainerNames, &object.Pod{Metadata: p.Metadata.ObjectMeta, Spec: p.Spec})
}

// Scope is the plugin's settings that say which pods it sets up.
type Scope struct {
	ExcludeNamespaces, SidecarContainerNames []string
}

// finding is what repair found wrong with a pod.
type finding int

const (
	// fine: nothing to do (or nothing repair may do).
	fine finding = iota
	// validationFailed: its validation container found no rules.
	validationFailed
	// outOfScope: its validation found no rules, but the plugin leaves
	// the pod alone, so a pod made again would fail the same way: it is
	// labelled, never deleted.
	outOfScope
	// unrecorded: a meshed pod without validation whose sandbox came up
	// after the journal's start with no set-up record for its address.
	unrecorded
)

// judge says what is wrong with p. since is the journal's start (zero:
// no journal, or none that can be trusted), and has looks a pod's set-up
// up in it.
func (r *Repairer) judge(p *repairPod, since time.Time, has func(uid string, ips []netip.Addr) bool) finding {
	if p.Metadata.DeletionTimestamp != nil || p.Metadata.Labels[UninitializedLabel] == "true" {
		return fine
	}
	out := p.outOfScope(r.Scope)
	if p.failedValidation() {
		if out != "" {
			return outOfScope
		}
		return validationFailed
	}
	if out != "" || p.validated() || since.IsZero() || has == nil {
		return fine
	}
	// The API keeps whole seconds, rounded down: a time not before since
	// is a sandbox that came up after it.
	at, ready := p.sandboxReady()
	ips := p.ips()
	if !ready || at.Before(since) || len(ips) == 0 || has(p.Metadata.UID, ips) {
		return fine
	}
	return unrecorded
}
