package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/rules/apply"
	"github.com/mesh-cni/mesh-cni/internal/validate"
	"github.com/mesh-cni/mesh-cni/test/netns"
)

// asCLI, set in a child's environment, makes the test binary the
// mesh-cni CLI: the kernel tests run the real command, with its exit code.
const asCLI = "MESH_CNI_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// validatorPod is a pod's namespace with only lo and eth0, a veth whose
// peer, in a namespace of its own, counts what reaches it.
type validatorPod struct {
	pod, peer *netns.NS
}

func newValidatorPod(t *testing.T) validatorPod {
	t.Helper()
	v := validatorPod{pod: netns.New(t), peer: netns.New(t)}
	for _, n := range []*netns.NS{v.pod, v.peer} {
		// No IPv6 on the veth: no router solicitation or DAD packets that
		// a counter would take for the probe's.
		n.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
	}
	netns.Link(t, v.pod, "eth0", []netip.Prefix{netip.MustParsePrefix("10.213.7.1/24")}, v.peer, "eth0", []netip.Prefix{netip.MustParsePrefix("10.213.7.2/24")})
	// A default route through the peer: were the probe's address not
	// kept on lo, its packets would go there.
	v.pod.IP(t, "route add default via 10.213.7.2")
	return v
}

// peerPackets is what the peer's eth0 has received.
func (v validatorPod) peerPackets(t *testing.T) uint64 {
	t.Helper()
	out := v.peer.Run(t, "ip", "-j", "-s", "link", "show", "dev", "eth0")
	var links []struct {
		Stats struct {
			RX struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s link of the peer: %v: %s", err, out)
	}
	return links[0].Stats.RX.Packets
}

// validate runs `mesh-cni validate` in the pod as uid, as the container
// runtime would (no capabilities, no groups), and returns its exit code
// and output.
func (v validatorPod) validate(t *testing.T, uid uint32, args ...string) (int, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatUint(uint64(uid), 10)
	cmd := exec.Command("nsenter", append([]string{"--net=" + v.pod.Path, "setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", self, "validate"}, args...)...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running the validator: %v: %s", err, out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// apply installs cfg's IPv4 rules in the pod.
func (v validatorPod) apply(t *testing.T, cfg rules.Config) {
	t.Helper()
	rs, err := rules.Build(cfg, rules.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	lockDir := t.TempDir()
	if err := v.pod.Do(func() error {
		_, err := apply.Apply([]rules.RuleSet{rs}, apply.Options{LockDir: lockDir})
		return err
	}); err != nil {
		t.Fatalf("applying the %s rules: %v", cfg.Profile, err)
	}
}

// validatorConfigs are rule configurations the probe must pass with: each
// profile's default, and shapes whose extra rules sit near the probe's
// path.
func validatorConfigs() map[string]rules.Config {
	out := map[string]rules.Config{}
	for _, p := range rules.Profiles {
		cfg := rules.DefaultConfig(p)
		out[string(p)] = cfg
		cfg.OutboundPortExclusions = []uint16{6379, 15002}
		cfg.OutboundIPRangeExclusions = []string{"10.0.0.0/8"}
		out[string(p)+"-exclusions"] = cfg
	}
	v1 := rules.DefaultConfig(rules.ProfileOSMv1)
	v1.OutboundIPRangeInclusions = []string{"10.96.0.0/12"}
	v1.NetworkInterfaceExclusions = []string{"lo"}
	v1.OutboundIPRangeExclusions = []string{"127.0.0.0/8"}
	v1.OutboundPortExclusions = []uint16{15003}
	out["osm-v1-inclusions"] = v1
	v1.LocalProxyMode = rules.LocalProxyPodIP
	v1.PodIPs = []netip.Addr{netip.MustParseAddr("10.213.7.1")}
	out["osm-v1-podip"] = v1
	return out
}

func TestValidateWithRules(t *testing.T) {
	netns.RequireKernel(t, "iptables-nft-restore", "nsenter", "setpriv")
	for name, cfg := range validatorConfigs() {
		t.Run(name, func(t *testing.T) {
			v := newValidatorPod(t)
			v.apply(t, cfg)
			probe, err := validate.ProbeFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := v.peerPackets(t)
			start := time.Now()
			code, out := v.validate(t, probe.UID, "--profile", string(cfg.Profile))
			// Reported, not asserted: the process's whole run, nsenter and
			// setpriv included.
			t.Logf("%s: exit %d after %s", name, code, time.Since(start).Round(time.Millisecond))
			if code != 0 {
				t.Fatalf("validate with the %s rules: exit %d: %s", name, code, out)
			}
			if after := v.peerPackets(t); after != before {
				t.Errorf("the peer received %d packets during the probe", after-before)
			}
		})
	}
}

func TestValidateWithoutRules(t *testing.T) {
	netns.RequireKernel(t, "nsenter", "setpriv")
	for _, p := range rules.Profiles {
		t.Run(string(p), func(t *testing.T) {
			v := newValidatorPod(t)
			probe, err := validate.ProbeFor(rules.DefaultConfig(p))
			if err != nil {
				t.Fatal(err)
			}
			before := v.peerPackets(t)
			code, out := v.validate(t, probe.UID, "--profile", string(p), "--timeout", "200ms")
			if code != validate.NotRedirectedExitCode {
				t.Fatalf("validate without rules: exit %d, want %d: %s", code, validate.NotRedirectedExitCode, out)
			}
			if after := v.peerPackets(t); after != before {
				t.Errorf("the probe sent %d packets off the pod", after-before)
			}
		})
	}
}

// The probe's uid is what the rules match: run as another one, the
// validator refuses rather than fail a pod that has its rules.
func TestValidateWrongUID(t *testing.T) {
	netns.RequireKernel(t, "iptables-nft-restore", "nsenter", "setpriv")
	v := newValidatorPod(t)
	v.apply(t, rules.DefaultConfig(rules.ProfileOSMv1))
	code, out := v.validate(t, validate.OtherUID, "--profile", string(rules.ProfileOSMv1))
	if code != 1 {
		t.Fatalf("validate as uid %d: exit %d, want 1: %s", validate.OtherUID, code, out)
	}
	if want := fmt.Sprintf("must run as uid %d", rules.DefaultProxyUID); !strings.Contains(out, want) {
		t.Errorf("output %q does not say %q", out, want)
	}
}
