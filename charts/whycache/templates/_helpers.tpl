{{/*
The names below are shared with config/default and the operator's flags
(see the repository's CONTRACT of names): one operator per cluster, in the
release's namespace.
*/}}

{{/* Labels of every object of the chart. */}}
{{- define "whycache.labels" -}}
{{ include "whycache.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's pods (the same as config/default's). */}}
{{- define "whycache.selectorLabels" -}}
app.kubernetes.io/name: whycache
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's image. */}}
{{- define "whycache.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The default image of the node agents and Jobs: the operator's, unless set. */}}
{{- define "whycache.agentImage" -}}
{{ .Values.agentImage | default (include "whycache.image" .) }}
{{- end }}

{{/* Whether more than one replica runs, and so leader election is needed. */}}
{{- define "whycache.leaderElect" -}}
{{ gt (int .Values.replicaCount) 1 }}
{{- end }}

{{/* The webhook's serving certificate: its Secret, and cert-manager's Certificate of the same name. */}}
{{- define "whycache.webhookCertName" -}}
whycache-webhook-server-cert
{{- end }}

{{/* Whether the manager makes its own webhook certificate (--webhook-cert-mode=self). */}}
{{- define "whycache.webhookSelfCert" -}}
{{ and .Values.webhook.enabled (not .Values.webhook.certManager.enabled) }}
{{- end }}
