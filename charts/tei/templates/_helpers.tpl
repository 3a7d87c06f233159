{{- define "tei.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "tei.selectorLabels" -}}
app.kubernetes.io/name: tei
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tei.labels" -}}
{{ include "tei.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: embeddings
app.kubernetes.io/part-of: llm-serving
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
