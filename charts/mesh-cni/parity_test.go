package chart

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// helmLabels are the labels the chart adds to deploy/'s on every object.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"}

// TestParityWithKustomize: with its defaults the chart renders deploy/'s
// objects (`kubectl kustomize deploy/`): the same kinds, names and
// namespaces, and equal content once Helm's labels and the plugin
// settings' checksum annotation are taken out and plugin.json is compared
// as JSON. The one object only deploy/ has is the Namespace:
// `helm install --create-namespace` makes it.
func TestParityWithKustomize(t *testing.T) {
	out, err := run(exec.Command("kubectl", "kustomize", "../../deploy"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]object{}
	for _, o := range decodeAll(t, out) {
		want[key(o)] = normalise(t, o)
	}
	got := map[string]object{}
	for _, o := range decodeAll(t, template(t, ns)) {
		got[key(o)] = normalise(t, o)
	}
	var onlyKustomize, onlyHelm []string
	for k := range want {
		if _, ok := got[k]; !ok {
			onlyKustomize = append(onlyKustomize, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			onlyHelm = append(onlyHelm, k)
		}
	}
	sort.Strings(onlyKustomize)
	if strings.Join(onlyKustomize, " ") != "Namespace/mesh-cni in " || len(onlyHelm) != 0 {
		t.Errorf("only deploy/ has %q, only the chart has %q; want the Namespace only in deploy/", onlyKustomize, onlyHelm)
	}
	if len(got) < 16 {
		t.Fatalf("the chart renders %d objects: %v", len(got), got)
	}
	for k, g := range got {
		if w, ok := want[k]; ok && !reflect.DeepEqual(w, g) {
			wy, _ := yaml.Marshal(w)
			gy, _ := yaml.Marshal(g)
			t.Errorf("%s differs from deploy/'s:\n%s", k, firstDiff(string(wy), string(gy)))
		}
	}
}

// key names an object by kind, name and namespace.
func key(o object) string {
	return o.id() + " in " + o.str("metadata", "namespace")
}

// normalise takes out what the chart adds on purpose: Helm's labels, the
// checksum that rolls the DaemonSet, and plugin.json's formatting.
func normalise(t *testing.T, o object) object {
	t.Helper()
	md, _ := o["metadata"].(map[string]any)
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, l := range helmLabels {
			delete(labels, l)
		}
	}
	if tmd, ok := o.get("spec", "template", "metadata").(map[string]any); ok {
		if ann, ok := tmd["annotations"].(map[string]any); ok {
			delete(ann, "checksum/plugin-config")
			if len(ann) == 0 {
				delete(tmd, "annotations")
			}
		}
	}
	if data, ok := o["data"].(map[string]any); ok && o.str("kind") == "ConfigMap" {
		if s, ok := data["plugin.json"].(string); ok {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatalf("%s: plugin.json: %v\n%s", o.id(), err, s)
			}
			data["plugin.json"] = v
		}
	}
	return o
}
