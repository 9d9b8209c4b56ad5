// Package webhooktest builds pods shaped as OSM v1.2.4's injector makes
// them (pkg/injector: patch.go, init_container.go), for the webhook's unit
// and integration tests.
package webhooktest

import (
	_ "embed"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultScript is osm-init's script for OSM v1.2.4's default MeshConfig
// (its unit test "no exclusions or inclusions"), byte for byte.
//
//go:embed osm-v1.2.4-default.script
var DefaultScript string

// ProxyUID is the uid OSM's Envoy sidecar runs as.
const ProxyUID = 1500

// OSMPod returns an injected pod: the app's own init containers (if any),
// then osm-init running script as OSM's injector appends it; the app and
// the envoy sidecar; the injector's label and volume.
func OSMPod(name, script string, appInits ...string) *corev1.Pod {
	root, proxy, no, privileged := int64(0), int64(ProxyUID), false, false
	var inits []corev1.Container
	for _, n := range appInits {
		inits = append(inits, corev1.Container{Name: n, Image: "busybox", Command: []string{"true"}})
	}
	inits = append(inits, corev1.Container{
		Name:            "osm-init",
		Image:           "openservicemesh/init:v1.2.4",
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{
			Privileged:   &privileged,
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}},
			RunAsNonRoot: &no,
			RunAsUser:    &root,
		},
		Command: []string{"/bin/sh"},
		Args:    []string{"-c", script},
		Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}}},
	})
	return &corev1.Pod{
		TypeMeta:   metaPod,
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bookstore", "osm-proxy-uuid": "5a3c3a4e-8f0e-4d5b-9a51-0d5b6a1f2c3d"}},
		Spec: corev1.PodSpec{
			InitContainers: inits,
			Containers: []corev1.Container{
				{Name: "app", Image: "bookstore:v1", SecurityContext: &corev1.SecurityContext{RunAsUser: &proxy}},
				{Name: "envoy", Image: "envoyproxy/envoy:v1.22", Command: []string{"envoy"},
					Args:            []string{"--config-path", "/etc/envoy/bootstrap.yaml"},
					SecurityContext: &corev1.SecurityContext{RunAsUser: &proxy},
					VolumeMounts:    []corev1.VolumeMount{{Name: "envoy-bootstrap-config-volume", MountPath: "/etc/envoy", ReadOnly: true}}},
			},
			Volumes: []corev1.Volume{{Name: "envoy-bootstrap-config-volume", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "envoy-bootstrap-config-" + name}}}},
		},
	}
}

// PlainPod returns a pod no mesh injected.
func PlainPod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metaPod,
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "plain"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "plain:v1"}}},
	}
}

var metaPod = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}

// OSMEdgePod returns a pod as osm-edge's injector makes it in
// interceptionMode none or ebpf: the label, the app and the Pipy sidecar
// named "sidecar", and no osm-init.
func OSMEdgePod(name string) *corev1.Pod {
	proxy := int64(ProxyUID)
	return &corev1.Pod{
		TypeMeta:   metaPod,
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bookstore", "osm-proxy-uuid": "0f3e7c2a-6d1b-4c8e-b5a9-3e2d1c0b9a87"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "bookstore:v1"},
				{Name: "sidecar", Image: "flomesh/pipy:1.0.0", Command: []string{"pipy"},
					Args:            []string{"http://osm-controller.osm-system:6060/repo/osm-edge-sidecar/bookstore/"},
					SecurityContext: &corev1.SecurityContext{RunAsUser: &proxy}},
			},
		},
	}
}
