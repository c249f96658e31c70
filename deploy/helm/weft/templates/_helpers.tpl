{{/* The chart's names and labels; the label set equals the one kubernetesManifests() puts on every object. */}}
{{- define "weft.name" -}}
{{ .Values.name }}
{{- end }}

{{- define "weft.selectorLabels" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .Values.name }}
{{- end }}

{{- define "weft.labels" -}}
{{ include "weft.selectorLabels" . }}
app.kubernetes.io/component: node
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if .Values.labels }}
{{ toYaml .Values.labels }}
{{- end }}
{{- end }}

{{- define "weft.seedAddress" -}}
/dns4/{{ .Values.name }}-0.{{ .Values.name }}-peers.{{ .Release.Namespace }}.svc.cluster.local/tcp/{{ .Values.ports.p2p }}/p2p/{{ required "seed.peerId is required: make the seed with `weft k8s seed`" .Values.seed.peerId }}
{{- end }}
