package cni

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// The library is imported here only, to check that the protocol layer
// answers as libcni's skel did; the binary must not link it.

const (
	prev100 = `{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"interface":0,"address":"10.1.0.5/24"}]}`
	// noNetns is a CNI_NETNS that cannot be opened: skel's own-netns check
	// passes it, and the fake netns never enters it.
	noNetns = "/nonexistent/netns"
)

// protoCase is one invocation: the environment and stdin.
type protoCase struct {
	name  string
	env   map[string]string
	stdin string
}

func addEnv(command string, extra ...string) map[string]string {
	env := map[string]string{"CNI_COMMAND": command, "CNI_CONTAINERID": "abc", "CNI_NETNS": noNetns, "CNI_IFNAME": "eth0",
		"CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x"}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func confJSON(version, rest string) string {
	return `{"cniVersion":"` + version + `","name":"n","type":"mesh-cni"` + rest + `}`
}

// differentialCases run through skel and through dispatch must end alike.
var differentialCases = []protoCase{
	{"ADD out of scope", addEnv("ADD"), confJSON("1.0.0", `,"prevResult":`+prev100)},
	{"ADD nothing set", map[string]string{"CNI_COMMAND": "ADD", "CNI_PATH": "/x"}, "{}"},
	{"DEL nothing set", map[string]string{"CNI_COMMAND": "DEL", "CNI_PATH": "/x"}, "{}"},
	{"GC without CNI_PATH", map[string]string{"CNI_COMMAND": "GC"}, confJSON("1.1.0", "")},
	{"bad container ID", addEnv("ADD", "CNI_CONTAINERID", "-abc"), "{}"},
	{"bad container ID and missing netns", addEnv("ADD", "CNI_CONTAINERID", "a b", "CNI_NETNS", ""), "{}"},
	{"interface name too long", addEnv("ADD", "CNI_IFNAME", "eth0123456789abcd"), "{}"},
	{"interface name dot", addEnv("DEL", "CNI_IFNAME", ".."), "{}"},
	{"interface name slash", addEnv("CHECK", "CNI_IFNAME", "a/b"), "{}"},
	{"interface name space", addEnv("ADD", "CNI_IFNAME", "a\tb"), "{}"},
	{"not JSON", addEnv("ADD"), `{"cniVersion":`},
	{"no name", addEnv("ADD"), `{"cniVersion":"1.0.0"}`},
	{"bad name", addEnv("ADD"), `{"cniVersion":"1.0.0","name":"a b"}`},
	{"name starting with a dot", addEnv("DEL"), `{"cniVersion":"1.0.0","name":".n"}`},
	{"version 0.2.0", addEnv("ADD"), confJSON("0.2.0", "")},
	{"no version", addEnv("DEL"), `{"name":"n"}`},
	{"version abc", addEnv("ADD"), confJSON("abc", "")},
	{"CHECK version abc", addEnv("CHECK"), confJSON("abc", "")},
	{"CHECK version 1.2.3.4", addEnv("CHECK"), confJSON("1.2.3.4", "")},
	{"CHECK version 9.9.9", addEnv("CHECK"), confJSON("9.9.9", "")},
	{"CHECK version 1.0.5", addEnv("CHECK"), confJSON("1.0.5", "")},
	{"CHECK version 0.3.1", addEnv("CHECK"), confJSON("0.3.1", "")},
	{"CHECK out of scope", addEnv("CHECK"), confJSON("0.4.0", `,"prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.5/24"}]}`)},
	{"GC version 1.0.0", addEnv("GC"), confJSON("1.0.0", "")},
	{"GC", addEnv("GC"), confJSON("1.1.0", `,"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]`)},
	{"GC bad config", addEnv("GC"), confJSON("1.1.0", `,"bogus":1`)},
	{"STATUS version 1.0.0", addEnv("STATUS"), confJSON("1.0.0", "")},
	{"STATUS version 2.0.0", addEnv("STATUS"), confJSON("2.0.0", "")},
	{"STATUS no agent", addEnv("STATUS"), confJSON("1.1.0", `,"agentSocket":"/nonexistent.sock"`)},
	{"DEL", addEnv("DEL", "CNI_NETNS", ""), confJSON("0.3.1", "")},
	{"DEL broken config", addEnv("DEL"), confJSON("1.0.0", `,"bogus":1`)},
	{"DEL in the plugin's netns", addEnv("DEL", "CNI_NETNS", "/proc/self/ns/net"), confJSON("1.0.0", "")},
	{"DEL in the plugin's netns, overridden", addEnv("DEL", "CNI_NETNS", "/proc/self/ns/net", "CNI_NETNS_OVERRIDE", "true"), confJSON("1.0.0", "")},
	{"ADD in the plugin's netns", addEnv("ADD", "CNI_NETNS", "/proc/self/ns/net"), confJSON("1.0.0", `,"prevResult":`+prev100)},
	{"ADD bad CNI_ARGS", addEnv("ADD", "CNI_ARGS", "K8S_POD_NAME"), confJSON("1.0.0", `,"prevResult":`+prev100)},
	{"ADD unknown field", addEnv("ADD"), confJSON("1.1.0", `,"bogus":1`)},
	{"ADD no prevResult", addEnv("ADD"), confJSON("1.1.0", `,"prevResult":null`)},
	{"ADD meshed, no agent", addEnv("ADD", "CNI_ARGS", "K8S_POD_NAMESPACE=test;K8S_POD_NAME=x"), confJSON("1.0.0", `,"agentSocket":"/nonexistent.sock","prevResult":`+prev100)},
}

// testPlugin is the plugin with fakes: no agent answers.
func testPlugin() *Plugin {
	p := New()
	p.netns = &fakeNetns{}
	return p
}

// setProcess sets the environment and stdin for skel, which reads them
// from the process.
func setProcess(t *testing.T, c protoCase) {
	t.Helper()
	for _, k := range []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "CNI_NETNS_OVERRIDE"} {
		t.Setenv(k, c.env[k])
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(c.stdin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = saved; f.Close() })
}

// viaSkel runs c through skel calling the plugin's own handlers, and
// returns its error and what the handlers printed.
func viaSkel(t *testing.T, c protoCase) (*types.Error, string) {
	var out bytes.Buffer
	resultOutput = &out
	p := testPlugin()
	wrap := func(command string) func(*skel.CmdArgs) error {
		return func(a *skel.CmdArgs) error {
			err := p.handler(command)(&cmdArgs{ContainerID: a.ContainerID, Netns: a.Netns, IfName: a.IfName, Args: a.Args, Path: a.Path, StdinData: a.StdinData})
			if e := (*errorResult)(nil); errors.As(err, &e) {
				return types.NewError(e.Code, e.Msg, e.Details) // as the handlers did with skel
			}
			return err
		}
	}
	setProcess(t, c)
	funcs := skel.CNIFuncs{Add: wrap("ADD"), Check: wrap("CHECK"), Del: wrap("DEL"), GC: wrap("GC"), Status: wrap("STATUS")}
	e := skel.PluginMainFuncsWithError(funcs, version.PluginSupports(supportedVersions...), "")
	return e, out.String()
}

// viaDispatch runs c through this package's protocol layer.
func viaDispatch(c protoCase) (*errorResult, string) {
	var out bytes.Buffer
	resultOutput = &out
	_, err := testPlugin().dispatch(func(k string) string { return c.env[k] }, strings.NewReader(c.stdin))
	if err == nil {
		return nil, out.String()
	}
	return asErrorResult(err), out.String()
}

func TestDispatchAnswersAsSkel(t *testing.T) {
	t.Cleanup(func() { resultOutput, logOutput = os.Stdout, os.Stderr })
	logOutput = &bytes.Buffer{}
	for _, c := range differentialCases {
		t.Run(c.name, func(t *testing.T) {
			want, wantOut := viaSkel(t, c)
			got, gotOut := viaDispatch(c)
			if want == nil && got != nil || want != nil && (got == nil || got.Code != want.Code || got.Msg != want.Msg || got.Details != want.Details) {
				t.Fatalf("dispatch: %#v\n    skel: %#v", got, want)
			}
			// skel ran ADD before refusing the plugin's netns; mesh-cni
			// refuses it first, printing nothing.
			if want != nil && want.Code == codeInvalidNetns {
				wantOut = ""
			}
			if gotOut != wantOut {
				t.Errorf("dispatch printed %q\n    skel printed %q", gotOut, wantOut)
			}
		})
	}
}

// TestRequiredVarsAreTheSpecs checks the cases where mesh-cni follows
// SPEC.md section 2 and skel did not: CNI_PATH is optional but for GC.
func TestRequiredVarsAreTheSpecs(t *testing.T) {
	for command, want := range map[string]string{
		"ADD":    "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME]",
		"CHECK":  "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME]",
		"DEL":    "[CNI_CONTAINERID,CNI_IFNAME]",
		"GC":     "[CNI_PATH]",
		"STATUS": "",
		"":       "[CNI_COMMAND]",
	} {
		_, err := testPlugin().dispatch(func(k string) string { return map[string]string{"CNI_COMMAND": command}[k] }, strings.NewReader("{}"))
		e := asErrorResult(err)
		if want == "" {
			if e.Code == codeInvalidEnv {
				t.Errorf("%s without any variable: %v, want no missing variable", command, e)
			}
			continue
		}
		if e.Code != codeInvalidEnv || e.Msg != "required env variables "+want+" missing" {
			t.Errorf("%s without any variable: %#v, want code 4 naming %s", command, e, want)
		}
	}
	_, err := testPlugin().dispatch(func(k string) string { return map[string]string{"CNI_COMMAND": "FOO"}[k] }, strings.NewReader("{}"))
	if e := asErrorResult(err); e.Code != codeInvalidEnv || e.Msg != "unknown CNI_COMMAND: FOO" {
		t.Errorf("unknown command: %#v", e)
	}
}

// stdoutOf returns what f writes to the process's stdout, where the
// library prints.
func stdoutOf(t *testing.T, f func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	ferr := f()
	os.Stdout = saved
	w.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
	return out.String()
}

func TestVersionAsLibrary(t *testing.T) {
	want := stdoutOf(t, func() error { return version.PluginSupports("0.3.1", "0.4.0", "1.0.0", "1.1.0").Encode(os.Stdout) })
	var out bytes.Buffer
	resultOutput = &out
	t.Cleanup(func() { resultOutput = os.Stdout })
	if code := testPlugin().run(func(k string) string { return map[string]string{"CNI_COMMAND": "VERSION"}[k] }, strings.NewReader("")); code != 0 {
		t.Fatalf("VERSION exited %d", code)
	}
	if out.String() != want || want != `{"cniVersion":"1.1.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}`+"\n" {
		t.Errorf("VERSION printed %q\nthe library prints %q", out.String(), want)
	}
}
