{{/* Names and labels shared by every template. */}}

{{- define "lineup.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: <fullname>-<component>. Call with (list $ "ingest"). */}}
{{- define "lineup.name" -}}
{{- printf "%s-%s" (include "lineup.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{/* The Secret holding the internal service credential: the operator's, else the one the chart generates. */}}
{{- define "lineup.internalTokenSecret" -}}
{{- default (include "lineup.name" (list . "internal-token")) .Values.auth.internalToken.existingSecret -}}
{{- end -}}

{{- define "lineup.sessionSigningKeySecret" -}}
{{- default (include "lineup.name" (list . "session-signing-key")) .Values.auth.sessionSigningKey.existingSecret -}}
{{- end -}}

{{- define "lineup.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "lineup.labels" -}}
{{- $root := index . 0 -}}
{{ include "lineup.selectorLabels" . }}
app.kubernetes.io/part-of: lineup
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version }}
{{- end -}}

{{- define "lineup.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* host:port of Triton's gRPC endpoint: the in-release Deployment, else the external one. */}}
{{- define "lineup.tritonUrl" -}}
{{- if .Values.triton.enabled -}}
{{- printf "%s:8001" (include "lineup.name" (list . "triton")) -}}
{{- else -}}
{{- required "triton.externalUrl is required when triton.enabled is false" .Values.triton.externalUrl -}}
{{- end -}}
{{- end -}}

{{/* Pod-level hardening: non-root, fixed uid/gid, seccomp RuntimeDefault. Call with the uid. */}}
{{- define "lineup.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level hardening: read-only root filesystem, no privilege escalation, every capability dropped. */}}
{{- define "lineup.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* An egress rule to an external service: ports (TCP) and optional peers. Call with the networkPolicy entry. */}}
{{- define "lineup.egressTo" -}}
- ports:
  {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "lineup.egressDns" -}}
- ports:
  {{- range .ports }}
    - protocol: UDP
      port: {{ . }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The CA file the agencies Job trusts when TLS is on. */}}
{{- define "lineup.tlsCaFile" -}}
/etc/lineup/tls-ca/{{ .Values.tls.caKey }}
{{- end -}}
