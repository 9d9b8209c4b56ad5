package chart

import (
	"strings"
	"testing"
)

// TestSchemaRefusesBadValues: values.schema.json refuses each bad value,
// and Helm's message names it by its path.
func TestSchemaRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		path string
	}{
		{[]string{"--set", "plugin.profile=osm-v2"}, "/plugin/profile"},
		{[]string{"--set", "plugin.logLevel=verbose"}, "/plugin/logLevel"},
		{[]string{"--set", "plugin.rulesWriter=nft"}, "/plugin/rulesWriter"},
		{[]string{"--set", "plugin.apiTimeout=10"}, "/plugin/apiTimeout"},
		{[]string{"--set", "plugin.apiTimeout=ten"}, "/plugin/apiTimeout"},
		{[]string{"--set", "plugin.apiTimeout=0s"}, "/plugin/apiTimeout"},
		{[]string{"--set", "plugin.excludeNamespaces=kube-system"}, "/plugin/excludeNamespaces"},
		{[]string{"--set", "plugin.excludeNamespaces={Kube_System}"}, "/plugin/excludeNamespaces/0"},
		{[]string{"--set", "plugin.sidecarContainerNames={envoy,}"}, "/plugin/sidecarContainerNames/1"},
		{[]string{"--set", "plugin.profiles=auto"}, "profiles"},
		{[]string{"--set", "mesh.name=My_Mesh"}, "/mesh/name"},
		{[]string{"--set", "mesh.namespace="}, "/mesh/namespace"},
		{[]string{"--set", "mesh.configName=a/b"}, "/mesh/configName"},
		{[]string{"--set", "skipCleanup=maybe"}, "/skipCleanup"},
		{[]string{"--set", "cni.binDirs={home/kubernetes/bin}"}, "/cni/binDirs/0"},
		{[]string{"--set", "cni.binDirs=null"}, "binDirs"},
		{[]string{"--set", "plugin.profile=null"}, "profile"},
		{[]string{"--set", "cni.confDir=etc/cni/net.d"}, "/cni/confDir"},
		{[]string{"--set", "cni.confName=/etc/cni/net.d/10.conflist"}, "/cni/confName"},
		{[]string{"--set", "image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
		{[]string{"--set", "image.tag=1"}, "/image/tag"},
		{[]string{"--set", "tolerations=all"}, "/tolerations"},
		{[]string{"--set", "nodeSelector.zone=1"}, "/nodeSelector/zone"},
		{[]string{"--set", "priorityClassName=1"}, "/priorityClassName"},
		{[]string{"--set", "resources.request.cpu=1"}, "request"},
		{[]string{"--set", "webhook.enabled=yes"}, "/webhook/enabled"},
		{[]string{"--set", "webhook.replicas=0"}, "/webhook/replicas"},
		{[]string{"--set", "webhook.replicas=1.5"}, "/webhook/replicas"},
		{[]string{"--set", "webhook.image=x"}, "image"},
	} {
		t.Run(strings.Join(tc.set, " "), func(t *testing.T) {
			_, err := helm(t, append([]string{"template", "mesh-cni", ".", "-n", ns}, tc.set...)...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want the schema to refuse it", tc.set)
			}
			msg := err.Error()
			if !strings.Contains(msg, "values don't meet the specifications of the schema") || !strings.Contains(msg, tc.path) {
				t.Errorf("helm template %v: %s\nwant a schema error naming %s", tc.set, msg, tc.path)
			}
		})
	}
}
