//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// podTracker follows every pod of one selector through `kubectl get -w`,
// so that pods a repair deleted are counted too, and what their validation
// container said before they went.
type podTracker struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu   sync.Mutex
	pods map[string]*trackedPod // by UID
}

// trackedPod is what the tracker saw of one pod.
type trackedPod struct {
	name string
	// failedValidation: its validation container terminated with
	// validate.NotRedirectedExitCode; passedValidation: with 0.
	failedValidation, passedValidation bool
	// gone: deleted, or being deleted. addressed: it had a pod IP (its
	// sandbox's ADD is done).
	gone, addressed bool
}

// watchedPod is the part of a pod the tracker reads.
type watchedPod struct {
	Metadata struct {
		Name              string  `json:"name"`
		UID               string  `json:"uid"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		PodIP                 string `json:"podIP"`
		InitContainerStatuses []struct {
			Name      string       `json:"name"`
			State     watchedState `json:"state"`
			LastState watchedState `json:"lastState"`
		} `json:"initContainerStatuses"`
	} `json:"status"`
}

type watchedState struct {
	Terminated *struct {
		ExitCode int `json:"exitCode"`
	} `json:"terminated"`
}

// trackPods starts following the pods of namespace matching selector; the
// watch stops when the test ends.
func (e *env) trackPods(t *testing.T, namespace, selector string) *podTracker {
	t.Helper()
	// No --request-timeout: the watch must outlive the kubectl default.
	cmd := exec.Command(e.kubectlBin, "get", "pods", "-n", namespace, "-l", selector, "-w", "--output-watch-events", "-o", "json")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("watching pods %s in %s: %v", selector, namespace, err)
	}
	tr := &podTracker{cmd: cmd, done: make(chan struct{}), pods: map[string]*trackedPod{}}
	go tr.read(out)
	t.Cleanup(tr.stop)
	return tr
}

// read decodes the watch's events until the stream ends.
func (tr *podTracker) read(r io.Reader) {
	defer close(tr.done)
	dec := json.NewDecoder(r)
	for {
		var ev struct {
			Type   string     `json:"type"`
			Object watchedPod `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return
		}
		tr.note(ev.Type, &ev.Object)
	}
}

func (tr *podTracker) note(typ string, p *watchedPod) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tp := tr.pods[p.Metadata.UID]
	if tp == nil {
		tp = &trackedPod{name: p.Metadata.Name}
		tr.pods[p.Metadata.UID] = tp
	}
	tp.gone = tp.gone || typ == "DELETED" || p.Metadata.DeletionTimestamp != nil
	tp.addressed = tp.addressed || p.Status.PodIP != ""
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name != validate.ContainerName {
			continue
		}
		for _, st := range []watchedState{s.State, s.LastState} {
			if st.Terminated == nil {
				continue
			}
			switch st.Terminated.ExitCode {
			case validate.NotRedirectedExitCode:
				tp.failedValidation = true
			case 0:
				tp.passedValidation = true
			}
		}
	}
}

// stop ends the watch and waits for its reader.
func (tr *podTracker) stop() {
	if tr.cmd.Process != nil {
		tr.cmd.Process.Kill()
	}
	tr.cmd.Wait()
	<-tr.done
}

// snapshot copies what the tracker has seen, by UID.
func (tr *podTracker) snapshot() map[string]trackedPod {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[string]trackedPod, len(tr.pods))
	for uid, p := range tr.pods {
		out[uid] = *p
	}
	return out
}

// waitFor polls the tracker until cond holds of what it has seen, or
// fails the test after timeout naming what.
func (tr *podTracker) waitFor(t *testing.T, what string, timeout time.Duration, cond func(map[string]trackedPod) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(tr.snapshot()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (seen: %d pods)", what, timeout, len(tr.snapshot()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
