package osmhost

import (
	"fmt"
	"sort"
	"strings"
)

// setupManifests are what the injector needs of the cluster besides its
// CRDs: it names its own pod in its certificates' owner and reads nothing
// else of it (a placeholder that is never scheduled), and the API server
// reaches its webhook through the Service, at the host's localhost.
func setupManifests(appImage string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: osm-injector, namespace: %[1]s}
spec:
  nodeSelector: {mesh-cni.io/never: "true"}
  containers: [{name: placeholder, image: %[2]s, imagePullPolicy: Never}]
---
apiVersion: v1
kind: Service
metadata: {name: osm-injector, namespace: %[1]s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: webhook, port: 9090}]
`, Namespace, appImage)
}

// MeshConfig is OSM's MeshConfig with appImage as the sidecar image and
// initImage as osm-init's, osm-init unprivileged (NET_ADMIN only, as OSM's
// default) and the given spec.traffic additions (YAML lines, indented by
// four).
func MeshConfig(appImage, initImage, traffic string) string {
	return fmt.Sprintf(`apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: %s}
spec:
  sidecar:
    enablePrivilegedInitContainer: false
    logLevel: error
    envoyImage: %s
    initContainerImage: %s
    localProxyMode: Localhost
  traffic:
    enablePermissiveTrafficPolicyMode: true
    enableEgress: true
%s
  certificate:
    serviceCertValidityDuration: 24h
    certKeyBitSize: 2048
`, Namespace, appImage, initImage, traffic)
}

// Baseline is the label of a namespace enforcing Pod Security baseline,
// which refuses osm-init's NET_ADMIN.
const Baseline = "pod-security.kubernetes.io/enforce: baseline"

// MeshNamespace is a namespace the mesh monitors and OSM injects, with
// these further labels (each a YAML "key: value", such as Baseline).
func MeshNamespace(name string, labels ...string) string {
	var extra strings.Builder
	for _, l := range labels {
		extra.WriteString("\n    " + l)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    openservicemesh.io/monitored-by: %s%s
  annotations:
    openservicemesh.io/sidecar-injection: enabled
`, name, MeshName, extra.String())
}

// AppPod is an application pod as its author writes it (meshapp serving
// 8080 and 9090); OSM's injector adds the sidecar (envoy) and osm-init.
func AppPod(namespace, name, appImage string, annotations map[string]string) string {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var meta strings.Builder
	for i, k := range keys {
		if i == 0 {
			meta.WriteString("\n  annotations:")
		}
		fmt.Fprintf(&meta, "\n    %s: %q", k, annotations[k])
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s%s
spec:
  terminationGracePeriodSeconds: 1
  enableServiceLinks: false
  containers:
  - name: app
    image: %s
    imagePullPolicy: Never
    command: ["/meshapp", "serve", "8080", "9090"]
`, name, namespace, meta.String(), appImage)
}
