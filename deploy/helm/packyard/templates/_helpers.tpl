{{/* Names and labels. */}}
{{- define "packyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "packyard.fullname" -}}
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

{{- define "packyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "packyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "packyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "packyard.labels" -}}
helm.sh/chart: {{ include "packyard.chart" . }}
{{ include "packyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "packyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "packyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "packyard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Where the pod finds its files. The distribution configuration points at the
Secrets' files here.
*/}}
{{- define "packyard.configPath" -}}/etc/packyard/config/config.yml{{- end }}
{{- define "packyard.htpasswdPath" -}}/etc/packyard/auth/htpasswd{{- end }}
{{- define "packyard.tlsDir" -}}/etc/packyard/tls{{- end }}
{{- define "packyard.gcsKeyFile" -}}/etc/packyard/gcs/keyfile.json{{- end }}

{{/* The Secret the chart makes: the http secret and any credentials given as values. */}}
{{- define "packyard.secretName" -}}{{ include "packyard.fullname" . }}{{- end }}

{{/*
packyard.secretData is the chart Secret's data as YAML, values not yet
base64'd; empty when every secret comes from an existing Secret.
*/}}
{{- define "packyard.secretData" -}}
{{- $v := .Values }}
{{- $data := dict }}
{{- if not $v.http.existingSecret }}
{{- $secret := $v.http.secret }}
{{- if not $secret }}
{{- /* Generated once: an upgrade reads it back from the release's Secret. */}}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "packyard.secretName" .) }}
{{- $prev := dig "data" "http-secret" "" ($old | default dict) }}
{{- $secret = ternary ($prev | b64dec) (randAlphaNum 64) (ne $prev "") }}
{{- end }}
{{- $_ := set $data "http-secret" $secret }}
{{- end }}
{{- if and (eq $v.storage.type "s3") (not $v.storage.s3.existingSecret) $v.storage.s3.accessKey }}
{{- $_ := set $data "s3-accesskey" $v.storage.s3.accessKey }}
{{- $_ := set $data "s3-secretkey" $v.storage.s3.secretKey }}
{{- end }}
{{- if and (eq $v.storage.type "azure") (not $v.storage.azure.existingSecret) }}
{{- if and (eq $v.storage.azure.credentialsType "shared_key") $v.storage.azure.accountKey }}
{{- $_ := set $data "azure-accountkey" $v.storage.azure.accountKey }}
{{- else if $v.storage.azure.clientSecret }}
{{- $_ := set $data "azure-clientsecret" $v.storage.azure.clientSecret }}
{{- end }}
{{- end }}
{{- if and $v.redis.enabled (not $v.redis.existingSecret) $v.redis.password }}
{{- $_ := set $data "redis-password" $v.redis.password }}
{{- end }}
{{- if and $v.auth.htpasswd.enabled (not $v.auth.htpasswd.existingSecret) }}
{{- $_ := set $data "htpasswd" $v.auth.htpasswd.htpasswd }}
{{- end }}
{{- if $data }}
{{- toYaml $data }}
{{- end }}
{{- end }}

{{/* packyard.envFromSecret is an env entry read from a Secret's key. */}}
{{- define "packyard.envFromSecret" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}

{{/*
packyard.validate fails the render on values that cannot work, saying which
values to change.
*/}}
{{- define "packyard.validate" -}}
{{- $v := .Values }}
{{- $types := list "filesystem" "s3" "gcs" "azure" }}
{{- if not (has $v.storage.type $types) }}
{{- fail (printf "storage.type %q is not supported: use filesystem, s3, gcs or azure" $v.storage.type) }}
{{- end }}
{{- $replicas := int $v.replicaCount }}
{{- if and (eq $v.storage.type "filesystem") (gt $replicas 1) }}
{{- if not $v.persistence.enabled }}
{{- fail (printf "replicaCount is %d but storage.type is filesystem without persistence: each replica would keep its own packs in an emptyDir. Use replicaCount=1, or shared storage: storage.type s3, gcs or azure with redis.enabled (docs/deploy.md), or persistence.enabled with persistence.accessModes [ReadWriteMany]" $replicas) }}
{{- end }}
{{- if not (has "ReadWriteMany" $v.persistence.accessModes) }}
{{- fail (printf "replicaCount is %d but storage.type is filesystem on a volume that is not ReadWriteMany (persistence.accessModes %v): only one pod can mount it. Use replicaCount=1, or shared storage: storage.type s3, gcs or azure with redis.enabled (docs/deploy.md), or a ReadWriteMany volume (persistence.accessModes [ReadWriteMany])" $replicas $v.persistence.accessModes) }}
{{- end }}
{{- end }}
{{- if eq $v.storage.type "s3" }}
{{- if or (not $v.storage.s3.bucket) (not $v.storage.s3.region) }}
{{- fail "storage.type is s3: set storage.s3.bucket and storage.s3.region" }}
{{- end }}
{{- if and $v.storage.s3.accessKey (not $v.storage.s3.secretKey) }}
{{- fail "storage.s3.accessKey is set without storage.s3.secretKey" }}
{{- end }}
{{- end }}
{{- if and (eq $v.storage.type "gcs") (not $v.storage.gcs.bucket) }}
{{- fail "storage.type is gcs: set storage.gcs.bucket" }}
{{- end }}
{{- if eq $v.storage.type "azure" }}
{{- if or (not $v.storage.azure.accountName) (not $v.storage.azure.container) }}
{{- fail "storage.type is azure: set storage.azure.accountName and storage.azure.container" }}
{{- end }}
{{- if not (has $v.storage.azure.credentialsType (list "shared_key" "default_credentials")) }}
{{- fail (printf "storage.azure.credentialsType %q: use shared_key or default_credentials (for a service principal, give clientID, tenantID and clientSecret with default_credentials)" $v.storage.azure.credentialsType) }}
{{- end }}
{{- if and (eq $v.storage.azure.credentialsType "shared_key") (not $v.storage.azure.accountKey) (not $v.storage.azure.existingSecret) }}
{{- fail "storage.azure.credentialsType is shared_key: set storage.azure.accountKey or storage.azure.existingSecret" }}
{{- end }}
{{- end }}
{{- if and $v.redis.enabled (not $v.redis.addrs) }}
{{- fail "redis.enabled: set redis.addrs to the Redis address, e.g. {redis-master:6379}" }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}
{{- fail "tls.enabled: set tls.secretName to a kubernetes.io/tls Secret (tls.crt, tls.key)" }}
{{- end }}
{{- if and $v.auth.htpasswd.enabled (not $v.auth.htpasswd.existingSecret) (not $v.auth.htpasswd.htpasswd) }}
{{- fail "auth.htpasswd.enabled: set auth.htpasswd.existingSecret, or the file's content in auth.htpasswd.htpasswd" }}
{{- end }}
{{- end }}

{{/*
packyard.config is the distribution configuration file the registry reads
(see docs/deploy.md). Secrets are not in it: the Deployment passes them as
REGISTRY_* environment variables, which override the file.
*/}}
{{- define "packyard.config" -}}
{{- $v := .Values }}
{{- $params := dict }}
{{- if eq $v.storage.type "filesystem" }}
{{- $params = dict "rootdirectory" $v.storage.filesystem.rootDirectory }}
{{- else if eq $v.storage.type "s3" }}
{{- $s3 := $v.storage.s3 }}
{{- $params = dict "region" $s3.region "bucket" $s3.bucket "secure" $s3.secure "encrypt" $s3.encrypt }}
{{- with $s3.regionEndpoint }}{{ $_ := set $params "regionendpoint" . }}{{ end }}
{{- if $s3.forcePathStyle }}{{ $_ := set $params "forcepathstyle" true }}{{ end }}
{{- with $s3.rootDirectory }}{{ $_ := set $params "rootdirectory" . }}{{ end }}
{{- with $s3.keyID }}{{ $_ := set $params "keyid" . }}{{ end }}
{{- with $s3.storageClass }}{{ $_ := set $params "storageclass" . }}{{ end }}
{{- $params = mustMergeOverwrite $params (deepCopy $s3.extra) }}
{{- else if eq $v.storage.type "gcs" }}
{{- $gcs := $v.storage.gcs }}
{{- $params = dict "bucket" $gcs.bucket }}
{{- with $gcs.rootDirectory }}{{ $_ := set $params "rootdirectory" . }}{{ end }}
{{- if $gcs.existingSecret }}{{ $_ := set $params "keyfile" (include "packyard.gcsKeyFile" .) }}{{ end }}
{{- $params = mustMergeOverwrite $params (deepCopy $gcs.extra) }}
{{- else if eq $v.storage.type "azure" }}
{{- $az := $v.storage.azure }}
{{- $params = dict "accountname" $az.accountName "container" $az.container "credentials" (dict "type" $az.credentialsType) }}
{{- with $az.rootDirectory }}{{ $_ := set $params "rootdirectory" . }}{{ end }}
{{- with $az.realm }}{{ $_ := set $params "realm" . }}{{ end }}
{{- $params = mustMergeOverwrite $params (deepCopy $az.extra) }}
{{- end }}
{{- $maintenance := dict
      "uploadpurging" (dict "enabled" $v.storage.uploadPurging.enabled "age" $v.storage.uploadPurging.age "interval" $v.storage.uploadPurging.interval "dryrun" false)
      "readonly" (dict "enabled" $v.storage.readOnly) }}
{{- $storage := dict
      $v.storage.type $params
      "delete" (dict "enabled" $v.storage.delete)
      "maintenance" $maintenance
      "cache" (dict "blobdescriptor" (ternary "redis" "inmemory" $v.redis.enabled)) }}
{{- if ne $v.storage.type "filesystem" }}
{{- $_ := set $storage "redirect" (dict "disable" (not $v.storage.redirect)) }}
{{- end }}
{{- $http := dict
      "addr" (printf ":%d" (int $v.http.port))
      "draintimeout" (printf "%ds" (int $v.http.drainTimeoutSeconds))
      "relativeurls" $v.http.relativeURLs
      "headers" (dict "X-Content-Type-Options" (list "nosniff")) }}
{{- if $v.metrics.enabled }}
{{- $_ := set $http "debug" (dict "addr" (printf ":%d" (int $v.metrics.port)) "prometheus" (dict "enabled" true "path" $v.metrics.path)) }}
{{- end }}
{{- if $v.tls.enabled }}
{{- $tlsDir := include "packyard.tlsDir" . }}
{{- $_ := set $http "tls" (dict "certificate" (printf "%s/tls.crt" $tlsDir) "key" (printf "%s/tls.key" $tlsDir) "minimumtls" $v.tls.minimumTLS) }}
{{- end }}
{{- $config := dict
      "version" "0.1"
      "log" (dict "level" $v.log.level "accesslog" (dict "disabled" (not $v.log.accessLog)))
      "storage" $storage
      "http" $http
      "middleware" (dict "registry" (list (dict "name" "packyard" "options" (dict "allowoverwrite" $v.packyard.allowOverwrite "catalogrefresh" (toString $v.packyard.catalogRefresh))))) }}
{{- if $v.redis.enabled }}
{{- $redis := dict "addrs" $v.redis.addrs "db" (int $v.redis.db) }}
{{- with $v.redis.username }}{{ $_ := set $redis "username" . }}{{ end }}
{{- with $v.redis.masterName }}{{ $_ := set $redis "mastername" . }}{{ end }}
{{- $_ := set $config "redis" (mustMergeOverwrite $redis (deepCopy $v.redis.extra)) }}
{{- end }}
{{- if $v.auth.htpasswd.enabled }}
{{- $_ := set $config "auth" (dict "htpasswd" (dict "realm" $v.auth.htpasswd.realm "path" (include "packyard.htpasswdPath" .))) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $config (deepCopy $v.config)) }}
{{- end }}
