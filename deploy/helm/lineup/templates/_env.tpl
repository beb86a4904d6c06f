{{/*
The LINEUP_* variables of one service (docs/configuration.md), as a map. Call with (list $ "ingest").
Secrets are not here: they are `env` entries with secretKeyRef in the Deployment.
*/}}
{{- define "lineup.serviceEnv" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $svc := index $root.Values.services $name -}}
{{- $env := dict
  "LINEUP_SERVICE_NAME" $name
  "LINEUP_GRPC_HOST" "0.0.0.0"
  "LINEUP_GRPC_PORT" (toString $svc.port)
  "LINEUP_KAFKA_BOOTSTRAP" (required "kafka.bootstrap is required" $root.Values.kafka.bootstrap)
  "LINEUP_TOPIC_PREFIX" $root.Values.kafka.topicPrefix
  "LINEUP_MINIO_ENDPOINT" (required "minio.endpoint is required" $root.Values.minio.endpoint)
  "LINEUP_MINIO_SECURE" (toString $root.Values.minio.secure)
  "LINEUP_OTLP_ENDPOINT" $root.Values.otlp.endpoint
-}}
{{- range $key, $value := $root.Values.settings }}
{{- $_ := set $env (printf "LINEUP_%s" (upper $key)) (include "lineup.envValue" $value) }}
{{- end }}
{{- range $key, $value := $svc.settings }}
{{- $_ := set $env (printf "LINEUP_%s" (upper $key)) (include "lineup.envValue" $value) }}
{{- end }}
{{- if eq $name "ingest" }}
{{- $_ := set $env "LINEUP_SEARCH_URL" (printf "%s:%v" (include "lineup.name" (list $root "search")) $root.Values.services.search.port) }}
{{- if $root.Values.tls.enabled }}
{{- $_ := set $env "LINEUP_TLS_CERT_FILE" "/etc/lineup/tls/tls.crt" }}
{{- $_ := set $env "LINEUP_TLS_KEY_FILE" "/etc/lineup/tls/tls.key" }}
{{- $_ := set $env "LINEUP_HEALTH_PORT" (toString $root.Values.tls.healthPort) }}
{{- end }}
{{- end }}
{{- if has $name (list "rekognition" "console") }}
{{- $_ := set $env "LINEUP_HTTP_HOST" "0.0.0.0" }}
{{- $_ := set $env "LINEUP_HTTP_PORT" (toString $svc.httpPort) }}
{{- $_ := set $env "LINEUP_INGEST_URL" (printf "%s:%v" (include "lineup.name" (list $root "ingest")) $root.Values.services.ingest.port) }}
{{- end }}
{{- if and (eq $name "console") $root.Values.tls.enabled }}
{{- $_ := set $env "LINEUP_INGEST_TLS_CA_FILE" "/etc/lineup/tls/ca.crt" }}
{{- end }}
{{- if or (eq $name "detection") (eq $name "embedding") }}
{{- $_ := set $env "LINEUP_TRITON_URL" (include "lineup.tritonUrl" $root) }}
{{- end }}
{{- if eq $name "search" }}
{{- $_ := set $env "LINEUP_MILVUS_URI" (required "milvus.uri is required" $root.Values.milvus.uri) }}
{{- end }}
{{- range $key, $value := $svc.extraEnv }}
{{- $_ := set $env $key (include "lineup.envValue" $value) }}
{{- end }}
{{- toYaml $env -}}
{{- end -}}

{{/* The services in a fixed order, so renders are stable. */}}
{{- define "lineup.serviceNames" -}}
ingest detection embedding search audit rekognition console
{{- end -}}

{{/*
A value as the services parse it. YAML numbers reach templates as float64, whose default text turns 1000000 into
"1e+06" (not an integer to Python's int()); whole numbers are printed as integers instead.
*/}}
{{- define "lineup.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}
