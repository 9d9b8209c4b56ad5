package deploy

import (
	"bytes"
	"os/exec"
	"testing"

	"sigs.k8s.io/yaml"
)

// object is the part of a rendered manifest the checks read.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Rules []struct {
		APIGroups []string `json:"apiGroups"`
		Resources []string `json:"resources"`
		Verbs     []string `json:"verbs"`
	} `json:"rules"`
	Data map[string]string `json:"data"`
	Spec daemonSetSpec     `json:"spec"`
	// Raw is the rendered document, for checks that decode it whole.
	Raw []byte `json:"-"`
}

type daemonSetSpec struct {
	UpdateStrategy struct {
		Type          string `json:"type"`
		RollingUpdate struct {
			MaxUnavailable any `json:"maxUnavailable"`
		} `json:"rollingUpdate"`
	} `json:"updateStrategy"`
	Template struct {
		Spec podSpec `json:"spec"`
	} `json:"template"`
}

type podSpec struct {
	ServiceAccountName            string `json:"serviceAccountName"`
	HostNetwork                   bool   `json:"hostNetwork"`
	PriorityClassName             string `json:"priorityClassName"`
	TerminationGracePeriodSeconds int    `json:"terminationGracePeriodSeconds"`
	Tolerations                   []struct {
		Key      string `json:"key"`
		Operator string `json:"operator"`
		Effect   string `json:"effect"`
	} `json:"tolerations"`
	Containers []container `json:"containers"`
	Volumes    []struct {
		Name     string `json:"name"`
		HostPath *struct {
			Path string `json:"path"`
		} `json:"hostPath"`
		ConfigMap *struct {
			Name string `json:"name"`
		} `json:"configMap"`
	} `json:"volumes"`
}

type container struct {
	Image           string   `json:"image"`
	ImagePullPolicy string   `json:"imagePullPolicy"`
	Command         []string `json:"command"`
	Env             []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `json:"fieldPath"`
			} `json:"fieldRef"`
		} `json:"valueFrom"`
	} `json:"env"`
	ReadinessProbe struct {
		HTTPGet struct {
			Host string `json:"host"`
			Path string `json:"path"`
			Port int    `json:"port"`
		} `json:"httpGet"`
	} `json:"readinessProbe"`
	SecurityContext struct {
		Privileged               *bool `json:"privileged"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		RunAsUser                *int  `json:"runAsUser"`
		Capabilities             struct {
			Add  []string `json:"add"`
			Drop []string `json:"drop"`
		} `json:"capabilities"`
	} `json:"securityContext"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

// render runs `kubectl kustomize` on this directory and splits the output.
func render(t *testing.T) []object {
	t.Helper()
	out, err := exec.Command("kubectl", "kustomize", ".").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/: %v", err)
	}
	var objs []object
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("parsing rendered object: %v\n%s", err, doc)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("rendered object without apiVersion, kind or name:\n%s", doc)
		}
		o.Raw = doc
		objs = append(objs, o)
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the kustomize output", kind, name)
	return object{}
}
