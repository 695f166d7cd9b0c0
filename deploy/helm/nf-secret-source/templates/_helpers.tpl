{{/* Chart name, truncated to the 63 characters DNS names allow. */}}
{{- define "nfss.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> (or the release name when it already contains the chart name). */}}
{{- define "nfss.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nfss.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nfss.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nfss.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nfss.labels" -}}
helm.sh/chart: {{ include "nfss.chart" . }}
{{ include "nfss.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nf-secret-source
{{- end }}

{{- define "nfss.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nfss.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nfss.jwtSecretName" -}}
{{- default (printf "%s-jwt" (include "nfss.fullname" .)) .Values.jwtSecret.existingSecret }}
{{- end }}

{{- define "nfss.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The service's config: the user's `config` with the keys the chart owns (listeners, JWT secrets)
set from `ports` and `jwtSecret`. Secrets are never rendered: auth.secrets only names env vars.
*/}}
{{- define "nfss.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- if not $cfg.backends }}
{{- fail "config.backends must list at least one store (see deploy/examples/)" }}
{{- end }}
{{- $server := merge (dict "host" "0.0.0.0" "port" (int .Values.ports.http)) (omit (default dict $cfg.server) "host" "port") }}
{{- $ops := merge (dict "host" "0.0.0.0" "port" (int .Values.ports.ops)) (omit (default dict $cfg.ops) "host" "port") }}
{{- $secrets := list "${env:NF_JWT_SECRET}" }}
{{- if .Values.jwtSecret.reloadable }}
{{- $secrets = list (printf "${file:/etc/nf-jwt/%s}" .Values.jwtSecret.key) }}
{{- end }}
{{- range $i, $extra := .Values.jwtSecret.additional }}
{{- $secrets = append $secrets (printf "${env:NF_JWT_SECRET_%d}" (add1 $i)) }}
{{- end }}
{{- $auth := merge (dict "secrets" $secrets) (omit (default dict $cfg.auth) "secrets") }}
{{- $_ := set $cfg "server" $server }}
{{- $_ := set $cfg "ops" $ops }}
{{- $_ := set $cfg "auth" $auth }}
{{- toYaml $cfg }}
{{- end }}

{{/* Seconds Kubernetes waits after SIGTERM: at least the drain delay, the time a request's headers may take, and the slowest request. The default adds 15: serve's own 5 s margin and the 5 s it gives the trace exporters when tracing is on (src/serve.ts), and 5 s to spare. */}}
{{- define "nfss.terminationGracePeriodSeconds" -}}
{{- $server := default dict .Values.config.server }}
{{- $delay := int (default 0 $server.shutdownDelaySeconds) }}
{{- $request := int (default 10 $server.requestTimeoutSeconds) }}
{{- $headers := int (default 10 $server.headersTimeoutSeconds) }}
{{- $needed := add $delay $headers $request }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds | or (eq (toString .Values.terminationGracePeriodSeconds) "") }}
{{- add $needed 15 }}
{{- else if lt (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least config.server.shutdownDelaySeconds + headersTimeoutSeconds + requestTimeoutSeconds (%d), or in-flight requests are killed" (int .Values.terminationGracePeriodSeconds) $needed) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The namespaces whose Secrets the kubernetes backend may read (Role mode). */}}
{{- define "nfss.rbacNamespaces" -}}
{{- if .Values.rbac.namespaces }}{{ join "," .Values.rbac.namespaces }}{{ else }}{{ .Release.Namespace }}{{ end }}
{{- end }}
