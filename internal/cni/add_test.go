package cni

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/mesh-cni/mesh-cni/internal/agent"
	"github.com/mesh-cni/mesh-cni/internal/kube/object"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings"
	"github.com/mesh-cni/mesh-cni/internal/meshsettings/meshtest"
	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// fakeAPI is a Kubernetes in memory; it records events.
type fakeAPI struct {
	meshtest.Fake
	pod      *object.Pod
	podErr   error
	eventErr error
	events   []object.Event
}

func (f *fakeAPI) GetPod(context.Context, string, string, string) (*object.Pod, error) {
	if f.podErr != nil {
		return nil, f.podErr
	}
	return f.pod, nil
}

func (f *fakeAPI) CreateEvent(_ context.Context, ev object.Event) error {
	f.events = append(f.events, ev)
	return f.eventErr
}

func (f *fakeAPI) Close() {}

// fakeNetns records what would be applied.
type fakeNetns struct {
	applied  [][]rules.RuleSet
	applyErr error
	panics   bool
}

func (f *fakeNetns) Apply(_ string, sets []rules.RuleSet, _ string) (applied, error) {
	if f.panics {
		panic("boom")
	}
	f.applied = append(f.applied, sets)
	return applied{backend: "nft", changed: true}, f.applyErr
}

func (f *fakeNetns) Verify(string, []rules.RuleSet) error { return f.applyErr }

// fakeJournal notes the set-ups recorded, as "uid container ips".
type fakeJournal struct {
	records []string
	err     error
}

func (f *fakeJournal) Record(_, uid, containerID string, ips []netip.Addr) error {
	f.records = append(f.records, fmt.Sprint(uid, " ", containerID, " ", ips))
	return f.err
}

type addCase struct {
	api     *fakeAPI
	netns   *fakeNetns
	journal *fakeJournal
	args    string
	apiErr  error
}

func (c addCase) run(t *testing.T, file string) (string, error, int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logOutput = &logs
	t.Cleanup(func() { logOutput = os.Stderr })
	calls := 0
	if c.journal == nil {
		c.journal = &fakeJournal{}
	}
	p := &Plugin{
		journal: c.journal,
		newAPI: func(context.Context, *NetConf) (kubeAPI, error) {
			calls++
			if c.apiErr != nil {
				return nil, c.apiErr
			}
			return c.api, nil
		},
		netns: c.netns,
		host:  "node-1",
	}
	args := &skel.CmdArgs{ContainerID: "abc", Netns: "/var/run/netns/test", IfName: "eth0", Args: c.args, StdinData: data}
	out := stdoutOf(t, func() { err = handler(p, "ADD")(args) })
	t.Logf("logs:\n%s", logs.String())
	if !strings.Contains(logs.String(), "pod=") && logs.Len() > 0 {
		t.Errorf("log lines without the pod")
	}
	return out, err, calls
}

const webArgs = "K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-1;K8S_POD_UID=u-1;K8S_POD_INFRA_CONTAINER_ID=abc"

func TestAddMeshedPod(t *testing.T) {
	api := &fakeAPI{pod: pod(), Fake: meshtest.Fake{CM: meshtest.SeedConfigMap()}}
	netns := &fakeNetns{}
	j := &fakeJournal{}
	out, err, _ := addCase{api: api, netns: netns, journal: j, args: webArgs}.run(t, "netconf-minimal-0.3.1.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(j.records, ";"); got != "u-1 abc [10.220.0.6]" {
		t.Errorf("set-ups recorded: %q, want the pod's UID, sandbox and address", got)
	}
	if !strings.Contains(out, `"10.220.0.6/24"`) || !strings.Contains(out, `"cniVersion": "0.3.1"`) {
		t.Errorf("result is not prevResult at 0.3.1:\n%s", out)
	}
	if len(netns.applied) != 1 || len(netns.applied[0]) != 1 || netns.applied[0][0].Family != rules.IPv4 {
		t.Fatalf("applied %+v, want one IPv4 set", netns.applied)
	}
	if len(api.events) != 1 {
		t.Fatalf("events %+v, want one", api.events)
	}
	ev := api.events[0]
	if ev.Type != object.EventNormal || ev.Reason != ReasonConfigured || ev.Component != "mesh-cni" || ev.PodUID != "u-1" ||
		!strings.Contains(ev.Message, "profile osm-v0") || !strings.Contains(ev.Message, "ConfigMap osm-system/osm-config") ||
		!strings.Contains(ev.Message, "iptables -t nat -I PROXY_OUTPUT -d 2.2.2.2/24 -j RETURN") {
		t.Errorf("event %+v", ev)
	}
}

// A pod whose mesh intercepts its traffic itself gets no rules, but is
// recorded: mesh-cni set it up, and the node agent must not take it for a
// pod set up without mesh-cni.
func TestAddSkippedIsRecorded(t *testing.T) {
	api := &fakeAPI{pod: pod(), Fake: meshtest.Fake{MC: meshtest.MeshConfig(t, "v1alpha2", `{"traffic":{"interceptionMode":"ebpf"}}`)}}
	netns, j := &fakeNetns{}, &fakeJournal{}
	if _, err, _ := (addCase{api: api, netns: netns, journal: j, args: webArgs}).run(t, "netconf-minimal-0.3.1.json"); err != nil {
		t.Fatal(err)
	}
	if len(netns.applied) != 0 || len(api.events) != 1 || api.events[0].Reason != ReasonSkipped {
		t.Errorf("applied %v, events %+v: want no rules and a %s event", netns.applied, api.events, ReasonSkipped)
	}
	if got := strings.Join(j.records, ";"); got != "u-1 abc [10.220.0.6]" {
		t.Errorf("set-ups recorded: %q", got)
	}
}

func TestAddDualStack(t *testing.T) {
	api := &fakeAPI{pod: pod()}
	netns := &fakeNetns{}
	if _, err, _ := (addCase{api: api, netns: netns, args: webArgs}).run(t, "netconf-bridge-1.0.0.json"); err != nil {
		t.Fatal(err)
	}
	if len(netns.applied) != 1 || len(netns.applied[0]) != 2 || netns.applied[0][1].Family != rules.IPv6 {
		t.Fatalf("applied %+v, want IPv4 and IPv6 sets", netns.applied)
	}
	if msg := api.events[0].Message; !strings.Contains(msg, "(IPv6):\nip6tables-restore --noflush") {
		t.Errorf("event message lacks the IPv6 command:\n%s", msg)
	}
}

func TestAddPassThrough(t *testing.T) {
	tests := []struct {
		name      string
		args      string
		pod       *object.Pod
		wantCalls int
	}{
		{"no Kubernetes args", "", nil, 0},
		{"excluded namespace", "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns", nil, 0},
		{"no sidecar", webArgs, pod(func(p *object.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }), 1},
		{"host network", webArgs, pod(func(p *object.Pod) { p.Spec.HostNetwork = true }), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			netns := &fakeNetns{}
			api := &fakeAPI{pod: tt.pod}
			j := &fakeJournal{}
			out, err, calls := addCase{api: api, netns: netns, journal: j, args: tt.args}.run(t, "netconf-minimal-0.3.1.json")
			if err != nil || calls != tt.wantCalls || len(netns.applied) != 0 || len(api.events) != 0 || len(j.records) != 0 {
				t.Fatalf("err %v, API connections %d (want %d), applied %v, events %v, recorded %v", err, calls, tt.wantCalls, netns.applied, api.events, j.records)
			}
			if !strings.Contains(out, "10.220.0.6/24") {
				t.Errorf("prevResult not passed through: %s", out)
			}
		})
	}
}

func TestAddFailures(t *testing.T) {
	// What the agent reports for the API's failures.
	unreachable := &agent.Error{Message: "GET /api/v1/namespaces/test/pods/web-1: 503 etcd unavailable", Transient: true}
	connRefused := &agent.Error{Message: "dial tcp 127.0.0.1:6443: connect: connection refused", Transient: true, Unreachable: true}
	noAgent := &agent.UnavailableError{Socket: "/var/run/mesh-cni/agent.sock", Err: errors.New("dial unix: connect: no such file or directory")}
	tests := []struct {
		name       string
		c          addCase
		wantCode   uint
		wantMsg    string
		wantEvents int
	}{
		{"bad annotation", addCase{api: &fakeAPI{pod: pod(func(p *object.Pod) {
			p.Metadata.Annotations = map[string]string{meshsettings.AnnotationOutboundPortExclusions: "70000"}
		})}}, types.ErrInternal, `invalid port "70000" in annotation openservicemesh.io/outbound-port-exclusion-list on pod test/web-1`, 1},
		{"API overloaded", addCase{api: &fakeAPI{podErr: unreachable}}, types.ErrTryAgainLater, "etcd unavailable", 1},
		{"API unreachable", addCase{api: &fakeAPI{podErr: connRefused}}, types.ErrTryAgainLater, "connection refused", 0},
		{"MeshConfig unreachable", addCase{api: &fakeAPI{pod: pod(), Fake: meshtest.Fake{MCErr: connRefused}}}, types.ErrTryAgainLater, "connection refused", 0},
		{"no agent yet", addCase{apiErr: noAgent}, types.ErrTryAgainLater, "the mesh-cni agent on this node (/var/run/mesh-cni/agent.sock) did not answer", 0},
		{"iptables fails", addCase{api: &fakeAPI{pod: pod()}, netns: &fakeNetns{applyErr: errors.New("iptables-restore: line 3 failed")}}, types.ErrInternal, "applying rules in /var/run/netns/test for pod test/web-1: iptables-restore: line 3 failed", 1},
		{"pod replaced", addCase{api: &fakeAPI{pod: pod(func(p *object.Pod) { p.Metadata.UID = "u-2" })}}, types.ErrInternal, "the pod was replaced", 1},
		{"panic", addCase{api: &fakeAPI{pod: pod()}, netns: &fakeNetns{panics: true}}, types.ErrInternal, "internal error: boom", 0},
		// Unrecorded, the node agent would take the pod for one set up
		// without mesh-cni: the runtime makes the sandbox again instead.
		{"journal unwritable", addCase{api: &fakeAPI{pod: pod()}, journal: &fakeJournal{err: errors.New("recording the set-up of pod u-1: no space left on device")}},
			types.ErrInternal, "pod test/web-1: recording the set-up of pod u-1: no space left on device", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.c.netns == nil {
				tt.c.netns = &fakeNetns{}
			}
			tt.c.args = webArgs
			out, err, _ := tt.c.run(t, "netconf-minimal-0.3.1.json")
			var cniErr *types.Error
			if !errors.As(err, &cniErr) || cniErr.Code != tt.wantCode || !strings.Contains(cniErr.Msg, tt.wantMsg) {
				t.Fatalf("error %#v, want code %d with %q", err, tt.wantCode, tt.wantMsg)
			}
			if out != "" {
				t.Errorf("printed a result on failure: %s", out)
			}
			if tt.c.api == nil {
				return
			}
			if len(tt.c.api.events) != tt.wantEvents {
				t.Fatalf("events %+v, want %d", tt.c.api.events, tt.wantEvents)
			}
			if tt.wantEvents > 0 {
				ev := tt.c.api.events[0]
				if ev.Type != object.EventWarning || ev.Reason != ReasonFailed || !strings.Contains(ev.Message, tt.wantMsg) {
					t.Errorf("event %+v", ev)
				}
			}
		})
	}
}

func TestAddEventFailureIsNotAFailure(t *testing.T) {
	api := &fakeAPI{pod: pod(), eventErr: errors.New("events are forbidden")}
	if _, err, _ := (addCase{api: api, netns: &fakeNetns{}, args: webArgs}).run(t, "netconf-minimal-0.3.1.json"); err != nil {
		t.Fatalf("ADD failed because the event could not be written: %v", err)
	}
}

func TestEventIsBounded(t *testing.T) {
	start := time.Now()
	recordEvent(slowWriter{}, newLogger(0, "ADD", podRef{}), time.Minute, "", podRef{}, object.EventNormal, ReasonConfigured, "m")
	if d := time.Since(start); d > maxEventWait+500*time.Millisecond {
		t.Errorf("recordEvent took %s, want at most %s", d, maxEventWait)
	}
}

type slowWriter struct{}

func (slowWriter) CreateEvent(ctx context.Context, _ object.Event) error {
	<-ctx.Done()
	return ctx.Err()
}
