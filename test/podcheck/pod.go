package podcheck

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mesh-cni/mesh-cni/test/cluster"
)

// Pod is the part of a stored pod the checks read: what admission (OSM's
// injector, mesh-cni's webhook) made of it.
type Pod struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
		Labels      map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		InitContainers []Container `json:"initContainers"`
		Containers     []Container `json:"containers"`
	} `json:"spec"`
}

// Container is the part of a pod's container the checks read.
type Container struct {
	Name            string   `json:"name"`
	Command         []string `json:"command"`
	Args            []string `json:"args"`
	SecurityContext *struct {
		Privileged   *bool `json:"privileged"`
		Capabilities *struct {
			Add []string `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

// GetPod reads the stored pod.
func GetPod(kubectl cluster.KubectlFunc, namespace, name string) (Pod, error) {
	var p Pod
	out, err := kubectl(nil, "get", "pod", "-n", namespace, name, "-o", "json")
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return p, fmt.Errorf("parsing pod %s/%s: %w", namespace, name, err)
	}
	return p, nil
}

// HasInit says whether the pod has the init container name.
func (p Pod) HasInit(name string) bool { return hasName(p.Spec.InitContainers, name) }

// HasContainer says whether the pod has the (not init) container name.
func (p Pod) HasContainer(name string) bool { return hasName(p.Spec.Containers, name) }

func hasName(list []Container, name string) bool {
	return slices.ContainsFunc(list, func(c Container) bool { return c.Name == name })
}

// ContainerList is the pod's containers, as "init: osm-init; app, envoy".
func (p Pod) ContainerList() string {
	names := func(list []Container) string {
		var n []string
		for _, c := range list {
			n = append(n, c.Name)
		}
		return strings.Join(n, ", ")
	}
	if len(p.Spec.InitContainers) == 0 {
		return names(p.Spec.Containers)
	}
	return "init: " + names(p.Spec.InitContainers) + "; " + names(p.Spec.Containers)
}

// Privileged names the containers that ask for NET_ADMIN or privilege.
func (p Pod) Privileged() []string {
	var out []string
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		sc := c.SecurityContext
		if sc == nil {
			continue
		}
		if (sc.Privileged != nil && *sc.Privileged) || (sc.Capabilities != nil && strings.Contains(strings.Join(sc.Capabilities.Add, ","), "NET_ADMIN")) {
			out = append(out, c.Name)
		}
	}
	return out
}
