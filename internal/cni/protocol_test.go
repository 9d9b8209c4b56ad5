package cni

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

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

// differentialCases run through bare skel and through the plugin's run,
// which adds its choices on top of skel, must end alike.
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
	{"GC bad config", addEnv("GC"), confJSON("1.1.0", `,"profile":"istio"`)},
	{"GC unknown key", addEnv("GC"), confJSON("1.1.0", `,"bogus":1`)},
	{"STATUS version 1.0.0", addEnv("STATUS"), confJSON("1.0.0", "")},
	{"STATUS version 2.0.0", addEnv("STATUS"), confJSON("2.0.0", "")},
	{"STATUS no agent", addEnv("STATUS"), confJSON("1.1.0", `,"agentSocket":"/nonexistent.sock"`)},
	{"DEL", addEnv("DEL", "CNI_NETNS", ""), confJSON("0.3.1", "")},
	{"DEL broken config", addEnv("DEL"), confJSON("1.0.0", `,"profile":"istio"`)},
	{"DEL in the plugin's netns", addEnv("DEL", "CNI_NETNS", "/proc/self/ns/net"), confJSON("1.0.0", "")},
	{"DEL in the plugin's netns, overridden", addEnv("DEL", "CNI_NETNS", "/proc/self/ns/net", "CNI_NETNS_OVERRIDE", "true"), confJSON("1.0.0", "")},
	{"ADD in the plugin's netns", addEnv("ADD", "CNI_NETNS", "/proc/self/ns/net"), confJSON("1.0.0", `,"prevResult":`+prev100)},
	{"ADD bad CNI_ARGS", addEnv("ADD", "CNI_ARGS", "K8S_POD_NAME"), confJSON("1.0.0", `,"prevResult":`+prev100)},
	{"ADD unknown key", addEnv("ADD"), confJSON("1.0.0", `,"bogus":1,"prevResult":`+prev100)},
	{"ADD no prevResult", addEnv("ADD"), confJSON("1.1.0", `,"prevResult":null`)},
	{"ADD meshed, no agent", addEnv("ADD", "CNI_ARGS", "K8S_POD_NAMESPACE=test;K8S_POD_NAME=x"), confJSON("1.0.0", `,"agentSocket":"/nonexistent.sock","prevResult":`+prev100)},
}

// testPlugin is the plugin with fakes: no agent answers.
func testPlugin() *Plugin {
	p := New()
	p.netns = &fakeNetns{}
	return p
}

// handler is the plugin's command as skel calls it.
func handler(p *Plugin, command string) func(*skel.CmdArgs) error {
	f := p.funcs(new(string))
	return map[string]func(*skel.CmdArgs) error{"ADD": f.Add, "CHECK": f.Check, "DEL": f.Del, "GC": f.GC, "STATUS": f.Status}[command]
}

// setProcess sets the environment and stdin, which skel reads from the
// process.
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

// stdoutOf returns what f writes to the process's stdout, where skel and
// types.PrintResult print.
func stdoutOf(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string)
	go func() {
		var out bytes.Buffer
		_, _ = out.ReadFrom(r)
		read <- out.String()
	}()
	saved := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = saved }()
	f()
	w.Close()
	return <-read
}

// viaSkel runs c through bare skel calling the plugin's commands, and
// returns its error and what the commands printed.
func viaSkel(t *testing.T, c protoCase) (*types.Error, string) {
	setProcess(t, c)
	var e *types.Error
	out := stdoutOf(t, func() { e = skel.PluginMainFuncsWithError(testPlugin().funcs(new(string)), pluginInfo, "") })
	return e, out
}

// viaRun runs c as the binary does and returns its exit status and stdout.
func viaRun(t *testing.T, c protoCase) (int, string) {
	setProcess(t, c)
	var code int
	out := stdoutOf(t, func() { code = testPlugin().run() })
	return code, out
}

// printed is an error object on stdout.
type printed struct {
	CNIVersion string `json:"cniVersion"`
	types.Error
}

// splitError cuts what run printed into what the command printed and the
// error object after it.
func splitError(t *testing.T, out string) (string, printed) {
	t.Helper()
	i := strings.LastIndex(out, "{\n    \"cniVersion\"")
	var e printed
	if i < 0 || json.Unmarshal([]byte(out[i:]), &e) != nil {
		t.Fatalf("no error object at the end of stdout %q", out)
	}
	return out[:i], e
}

func TestRunAnswersAsSkel(t *testing.T) {
	t.Cleanup(func() { logOutput = os.Stderr })
	logOutput = &bytes.Buffer{}
	for _, c := range differentialCases {
		t.Run(c.name, func(t *testing.T) {
			want, wantOut := viaSkel(t, c)
			code, out := viaRun(t, c)
			if want == nil {
				if code != 0 || out != wantOut {
					t.Fatalf("run: exit %d, printed %q\n skel: no error, printed %q", code, out, wantOut)
				}
				return
			}
			before, got := splitError(t, out)
			if code != 1 || got.Code != want.Code || got.Msg != want.Msg || got.Details != want.Details {
				t.Fatalf("run: exit %d, %#v\nskel: %#v", code, got.Error, want)
			}
			if before != wantOut {
				t.Errorf("run printed %q before the error\n skel printed %q", before, wantOut)
			}
		})
	}
}

// runError runs c as the binary does and returns the error it printed.
func runError(t *testing.T, c protoCase) printed {
	t.Helper()
	code, out := viaRun(t, c)
	if code != 1 {
		t.Fatalf("%s: exit %d, stdout %q; want exit 1", c.name, code, out)
	}
	_, e := splitError(t, out)
	return e
}

// TestRequiredVarsAreTheSpecs checks the cases where mesh-cni follows
// SPEC.md section 2 and skel does not: CNI_PATH is optional but for GC,
// and an unknown command is one whatever stdin holds.
func TestRequiredVarsAreTheSpecs(t *testing.T) {
	t.Cleanup(func() { logOutput = os.Stderr })
	logOutput = &bytes.Buffer{}
	for command, want := range map[string]string{
		"ADD":    "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME]",
		"CHECK":  "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME]",
		"DEL":    "[CNI_CONTAINERID,CNI_IFNAME]",
		"GC":     "[CNI_PATH]",
		"STATUS": "",
		"":       "[CNI_COMMAND]",
	} {
		e := runError(t, protoCase{command, map[string]string{"CNI_COMMAND": command}, "{}"})
		if want == "" {
			if e.Code == types.ErrInvalidEnvironmentVariables {
				t.Errorf("%s without any variable: %v, want no missing variable", command, e)
			}
			continue
		}
		if e.Code != types.ErrInvalidEnvironmentVariables || e.Msg != "required env variables "+want+" missing" {
			t.Errorf("%s without any variable: %#v, want code 4 naming %s", command, e, want)
		}
	}
	if e := runError(t, protoCase{"FOO", map[string]string{"CNI_COMMAND": "FOO"}, "{}"}); e.Code != types.ErrInvalidEnvironmentVariables || e.Msg != "unknown CNI_COMMAND: FOO" {
		t.Errorf("unknown command: %#v", e)
	}
}

// TestOwnNetnsRefusedFirst: ADD in the plugin's own netns is refused
// before it runs, so nothing but the error is printed; skel alone would
// have printed the result first.
func TestOwnNetnsRefusedFirst(t *testing.T) {
	t.Cleanup(func() { logOutput = os.Stderr })
	logOutput = &bytes.Buffer{}
	own := protoCase{"own", addEnv("ADD", "CNI_NETNS", "/proc/self/ns/net"), confJSON("1.0.0", `,"prevResult":`+prev100)}
	code, out := viaRun(t, own)
	if before, e := splitError(t, out); code != 1 || e.Code != types.ErrInvalidNetNS || before != "" {
		t.Errorf("ADD in the plugin's netns: exit %d, stdout %q; want code 8 and nothing before it", code, out)
	}
	own.env["CNI_NETNS_OVERRIDE"] = "1"
	if code, out := viaRun(t, own); code != 0 || !strings.Contains(out, "10.1.0.5/24") {
		t.Errorf("ADD in the plugin's netns with CNI_NETNS_OVERRIDE=1: exit %d, stdout %q; want the result", code, out)
	}
}

func TestVersionAsLibrary(t *testing.T) {
	want := stdoutOf(t, func() { _ = version.PluginSupports("0.3.1", "0.4.0", "1.0.0", "1.1.0").Encode(os.Stdout) })
	code, out := viaRun(t, protoCase{"VERSION", map[string]string{"CNI_COMMAND": "VERSION"}, ""})
	if code != 0 {
		t.Fatalf("VERSION exited %d", code)
	}
	if out != want || want != `{"cniVersion":"1.1.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}`+"\n" {
		t.Errorf("VERSION printed %q\nthe library prints %q", out, want)
	}
}
