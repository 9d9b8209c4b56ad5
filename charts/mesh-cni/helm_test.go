package chart

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// ns is the release namespace of the README's install command.
const ns = "mesh-cni"

// helm runs Helm in this directory and returns its stdout, or an error
// carrying its stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := cluster.EnsureHelm()
	if err != nil {
		t.Fatalf("building helm: %v", err)
	}
	return run(exec.Command(bin, args...))
}

func run(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &cmdError{err: err, args: cmd.Args, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type cmdError struct {
	err    error
	args   []string
	stderr string
}

func (e *cmdError) Error() string {
	return strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + strings.TrimSpace(e.stderr)
}

// template renders the chart as release mesh-cni in namespace, with extra
// helm template arguments (-f, --set).
func template(t *testing.T, namespace string, extra ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", "mesh-cni", ".", "-n", namespace}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// object is a rendered manifest, decoded as JSON would be.
type object map[string]any

// decodeAll splits a multi-document YAML stream into objects, skipping
// empty documents and comments.
func decodeAll(t *testing.T, stream string) []object {
	t.Helper()
	var objs []object
	for _, doc := range strings.Split("\n"+stream, "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("parsing a rendered object: %v\n%s", err, doc)
		}
		if len(o) == 0 {
			continue
		}
		if o.str("kind") == "" || o.str("metadata", "name") == "" {
			t.Fatalf("rendered object without kind or name:\n%s", doc)
		}
		objs = append(objs, o)
	}
	return objs
}

// get walks o by map keys and list indexes (ints).
func (o object) get(path ...any) any {
	var v any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func (o object) str(path ...any) string { s, _ := o.get(path...).(string); return s }

func (o object) id() string { return o.str("kind") + "/" + o.str("metadata", "name") }

// into decodes o into a typed object, refusing fields out does not have.
func (o object) into(t *testing.T, out any) {
	t.Helper()
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, out); err != nil {
		t.Fatalf("%s: %v", o.id(), err)
	}
}

// find returns the object kind/name, failing the test if it is missing.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.str("kind") == kind && o.str("metadata", "name") == name {
			return o
		}
	}
	t.Fatalf("no %s/%s rendered", kind, name)
	return nil
}

func ids(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.id())
	}
	return out
}
