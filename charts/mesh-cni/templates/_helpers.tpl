{{/*
Labels of every object: deploy/'s two (kustomization.yaml) and Helm's
usual ones. The parity test with deploy/ (charts/mesh-cni's Go test) strips
the latter.
*/}}
{{- define "mesh-cni.labels" -}}
{{ include "mesh-cni.baseLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/*
The webhook configuration's labels: no app.kubernetes.io/instance or
version, which OSM's injector matches its own configuration by.
*/}}
{{- define "mesh-cni.baseLabels" -}}
app.kubernetes.io/name: mesh-cni
app.kubernetes.io/part-of: mesh-cni
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mesh-cni.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Sorts after OSM's own osm-webhook-<mesh name>, so OSM injects first. */}}
{{- define "mesh-cni.webhookConfigurationName" -}}
osm-webhook-{{ .Values.mesh.name }}-mesh-cni
{{- end }}

{{/* plugin.excludeNamespaces with the release's namespace added. */}}
{{- define "mesh-cni.excludeNamespaces" -}}
{{- $ns := .Values.plugin.excludeNamespaces -}}
{{- if not (has .Release.Namespace $ns) }}{{ $ns = append $ns .Release.Namespace }}{{ end -}}
{{ toJson $ns }}
{{- end }}

{{/*
plugin.json: every setting, in deploy/configmap.yaml's order. Its hash on
the DaemonSet's pod template rolls the installers when it changes (they
read it at start); skip-cleanup is left out of the hash, so setting it
rolls nothing.
*/}}
{{- define "mesh-cni.pluginJSON" -}}
{
  "meshNamespace": {{ .Values.mesh.namespace | toJson }},
  "meshConfigName": {{ .Values.mesh.configName | toJson }},
  "profile": {{ .Values.plugin.profile | toJson }},
  "excludeNamespaces": {{ include "mesh-cni.excludeNamespaces" . }},
  "sidecarContainerNames": {{ .Values.plugin.sidecarContainerNames | toJson }},
  "logLevel": {{ .Values.plugin.logLevel | toJson }},
  "apiTimeout": {{ .Values.plugin.apiTimeout | toJson }},
  "rulesWriter": {{ .Values.plugin.rulesWriter | toJson }}
}
{{- end }}
