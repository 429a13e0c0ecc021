{{/*
Named templates of the modelmesh chart, all prefixed "modelmesh.".
Names and labels first, then images, etcd and storage wiring, the runtime pod spec shared by
every runtime Deployment, and last modelmesh.validateValues.
*/}}

{{- define "modelmesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name alone when it already holds the chart name. */}}
{{- define "modelmesh.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "modelmesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change over a release's life: the selectors. */}}
{{- define "modelmesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelmesh.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modelmesh.labels" -}}
{{ include "modelmesh.selectorLabels" . }}
helm.sh/chart: {{ include "modelmesh.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelmesh
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.labels of an object: (dict "root" $ "component" "runtime"). */}}
{{- define "modelmesh.componentLabels" -}}
{{ include "modelmesh.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "modelmesh.componentSelector" -}}
{{ include "modelmesh.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* metadata.annotations from commonAnnotations, indented for metadata (nothing when none). */}}
{{- define "modelmesh.annotations" -}}
{{- with .Values.commonAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
An image reference: (dict "image" <override> "default" <fallback> "root" $).
Keys missing from the override come from the fallback; a digest wins over a tag, and an
empty tag means the chart's appVersion.
*/}}
{{- define "modelmesh.image" -}}
{{- $image := merge (dict) (default (dict) .image) (default (dict) .default) -}}
{{- $ref := $image.repository -}}
{{- if $image.registry }}{{ $ref = printf "%s/%s" $image.registry $image.repository }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $ref $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (default .root.Chart.AppVersion $image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "modelmesh.pullPolicy" -}}
{{- $image := merge (dict) (default (dict) .image) (default (dict) .default) -}}
{{- default "IfNotPresent" $image.pullPolicy -}}
{{- end -}}

{{/* Pod-level settings every pod of the chart shares. */}}
{{- define "modelmesh.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* ---------------------------------------------------------------- names */}}

{{- define "modelmesh.runtime.deploymentName" -}}
{{- printf "%s-%s" .root.Values.mesh.serviceName .runtime.name -}}
{{- end -}}

{{- define "modelmesh.runtime.serviceAccountName" -}}
{{- if .Values.mesh.serviceAccount.create -}}
{{- default (printf "%s-runtime" (include "modelmesh.fullname" .)) .Values.mesh.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.mesh.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modelmesh.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create -}}
{{- default (printf "%s-controller" (include "modelmesh.fullname" .)) .Values.controller.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.controller.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modelmesh.etcd.fullname" -}}
{{- printf "%s-etcd" (include "modelmesh.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelmesh.etcd.headlessName" -}}
{{- printf "%s-etcd-headless" (include "modelmesh.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelmesh.storage.secretName" -}}
{{- default .Values.storage.secretName .Values.storage.existingSecret -}}
{{- end -}}

{{/* ------------------------------------------------------------------ etcd */}}

{{/* The Secret holding the etcd_connection JSON the mesh reads. */}}
{{- define "modelmesh.etcd.connectionSecretName" -}}
{{- if eq .Values.etcd.mode "external" -}}
{{- .Values.etcd.external.existingSecret -}}
{{- else if and .Values.etcd.auth.enabled .Values.etcd.auth.existingSecret -}}
{{- .Values.etcd.auth.existingSecret -}}
{{- else -}}
{{- printf "%s-connection" (include "modelmesh.etcd.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "modelmesh.etcd.connectionSecretKey" -}}
{{- if eq .Values.etcd.mode "external" -}}
{{- .Values.etcd.external.secretKey -}}
{{- else -}}
etcd_connection
{{- end -}}
{{- end -}}

{{- define "modelmesh.etcd.passwordSecretName" -}}
{{- default (include "modelmesh.etcd.fullname" .) .Values.etcd.auth.existingSecret -}}
{{- end -}}

{{/* host of member i: (dict "root" $ "i" 0). */}}
{{- define "modelmesh.etcd.memberHost" -}}
{{- $root := .root -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "modelmesh.etcd.fullname" $root) (int .i) (include "modelmesh.etcd.headlessName" $root) $root.Release.Namespace $root.Values.clusterDomain -}}
{{- end -}}

{{- define "modelmesh.etcd.clientEndpoints" -}}
{{- $root := . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $urls = append $urls (printf "http://%s:2379" (include "modelmesh.etcd.memberHost" (dict "root" $root "i" $i))) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{- define "modelmesh.etcd.initialCluster" -}}
{{- $root := . -}}
{{- $members := list -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $members = append $members (printf "%s-%d=http://%s:2380" (include "modelmesh.etcd.fullname" $root) $i (include "modelmesh.etcd.memberHost" (dict "root" $root "i" $i))) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/* upstream's etcd_connection document for the bundled etcd; keys sorted by toJson. */}}
{{- define "modelmesh.etcd.connectionJson" -}}
{{- $doc := dict "endpoints" (include "modelmesh.etcd.clientEndpoints" .) "root_prefix" .Values.etcd.rootPrefix -}}
{{- if .Values.etcd.auth.enabled -}}
{{- $_ := set $doc "userid" "root" -}}
{{- $_ := set $doc "password" .Values.etcd.auth.rootPassword -}}
{{- end -}}
{{- toJson $doc -}}
{{- end -}}

{{/* ------------------------------------------------------------- runtimes */}}

{{/* MM_LABELS: the formats a runtime serves, its name and protocol (type constraints). */}}
{{- define "modelmesh.runtime.mmLabels" -}}
{{- $labels := list -}}
{{- range .supportedModelFormats -}}
{{- $labels = append $labels (printf "mt:%s" .name) -}}
{{- if .version }}{{ $labels = append $labels (printf "mt:%s:%v" .name .version) }}{{ end -}}
{{- end -}}
{{- $labels = append $labels (printf "rt:%s" .name) -}}
{{- $labels = append $labels "pv:grpc-v2" -}}
{{- join "," (uniq $labels) -}}
{{- end -}}

{{/* Environment every mesh container gets: (dict "root" $ "runtime" $rt). */}}
{{- define "modelmesh.mesh.env" -}}
{{- $root := .root -}}
{{- $mesh := $root.Values.mesh -}}
{{- $rt := .runtime -}}
- name: MM_SERVICE_NAME
  value: {{ $mesh.serviceName | quote }}
- name: MM_SVC_GRPC_PORT
  value: {{ $mesh.grpcPort | quote }}
- name: REST_PROXY_LISTEN_PORT
  value: {{ $mesh.restPort | quote }}
- name: MM_PROBE_PORT
  value: {{ $mesh.probePort | quote }}
- name: MM_SVC_GRPC_MAX_MSG_SIZE
  value: {{ $mesh.grpcMaxMessageBytes | int64 | quote }}
- name: KV_STORE
  value: etcd:/etc/modelmesh/etcd/etcd_connection
- name: MM_KVSTORE_PREFIX
  value: {{ $mesh.kvStorePrefix | quote }}
- name: MM_LABELS
  value: {{ include "modelmesh.runtime.mmLabels" $rt | quote }}
- name: MM_LOAD_FAILURE_EXPIRY_TIME_MS
  value: {{ $mesh.loadFailureExpiryMs | int64 | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ mul $mesh.shutdownTimeoutSeconds 1000 | quote }}
- name: MM_METRICS
  {{- if $root.Values.metrics.enabled }}
  value: {{ printf "prometheus:port=%d;scheme=%s%s" (int $root.Values.metrics.port) $root.Values.metrics.scheme (ternary ";per_model_metrics" "" $root.Values.metrics.perModelMetrics) | quote }}
  {{- else }}
  value: disabled
  {{- end }}
- name: MM_LOG_FORMAT
  value: {{ $mesh.logFormat | quote }}
- name: MM_LOG_EACH_INVOKE
  value: {{ $mesh.logEachInvoke | quote }}
- name: MM_DATA_DIR
  value: /tmp/modelmesh
- name: HOME
  value: /tmp
- name: STORAGE_CONFIG_DIR
  value: /etc/modelmesh/storage
- name: WKUBE_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: WKUBE_POD_IPADDR
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: MM_LOCATION
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- if $root.Values.tls.enabled }}
- name: MM_TLS_KEY_CERT_PATH
  value: /etc/modelmesh/tls/tls.crt
- name: MM_TLS_PRIVATE_KEY_PATH
  value: /etc/modelmesh/tls/tls.key
- name: MM_TLS_CLIENT_AUTH
  value: {{ $root.Values.tls.clientAuth | quote }}
- name: MM_TLS_PEER_SERVER_NAME
  value: {{ default (printf "%s.%s.svc" $mesh.serviceName $root.Release.Namespace) $root.Values.tls.peerServerName | quote }}
{{- if ne $root.Values.tls.clientAuth "none" }}
- name: MM_TLS_TRUST_CERT_PATH
  value: /etc/modelmesh/tls/ca.crt
{{- end }}
{{- end }}
{{- if eq (default "builtin" $rt.type) "builtin" }}
- name: MM_RUNTIME
  value: builtin
- name: MM_MODEL_CACHE_DIR
  value: /model-cache
{{ include "modelmesh.runtime.capacityEnv" (dict "runtime" $rt "container" "mesh") }}
{{- else }}
- name: MM_RUNTIME
  value: grpc
- name: INTERNAL_GRPC_PORT
  value: {{ include "modelmesh.runtime.managementPort" $rt | quote }}
- name: INTERNAL_SERVING_GRPC_PORT
  value: {{ default 8001 $rt.server.grpcPort | quote }}
{{- end }}
{{- with $mesh.env }}
{{ toYaml . }}
{{- end }}
{{- with $rt.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The port of ModelRuntime in a grpc runtime's pod: the adapter's, else the server's. */}}
{{- define "modelmesh.runtime.managementPort" -}}
{{- $adapter := default (dict) .adapter -}}
{{- if $adapter.enabled -}}
{{- default 8085 $adapter.port -}}
{{- else -}}
{{- default 8085 (default (dict) .server).managementPort -}}
{{- end -}}
{{- end -}}

{{/*
Where models go and how much fits: the built-in runtime's and the adapters' settings.
Capacity comes from the memory request of "container" through the downward API, as upstream.
*/}}
{{- define "modelmesh.runtime.capacityEnv" -}}
{{- $capacity := default (dict) .runtime.capacity -}}
- name: ROOT_MODEL_DIR
  value: /models
- name: CONTAINER_MEM_REQ_BYTES
  valueFrom:
    resourceFieldRef:
      containerName: {{ .container }}
      resource: requests.memory
- name: MEM_BUFFER_BYTES
  value: {{ default 268435456 $capacity.memBufferBytes | int64 | quote }}
- name: LOADING_CONCURRENCY
  value: {{ default 2 $capacity.loadingConcurrency | quote }}
- name: LOADTIME_TIMEOUT
  value: {{ default 90000 $capacity.loadingTimeoutMs | int64 | quote }}
- name: DEFAULT_MODELSIZE
  value: {{ default 1048576 $capacity.defaultModelSizeBytes | int64 | quote }}
{{- end -}}

{{/* The probes of a mesh container: start-up and liveness on /live, readiness on /ready. */}}
{{- define "modelmesh.mesh.probes" -}}
{{- $mesh := .Values.mesh -}}
startupProbe:
  httpGet:
    path: /live
    port: probes
  periodSeconds: {{ $mesh.startupProbe.periodSeconds }}
  failureThreshold: {{ $mesh.startupProbe.failureThreshold }}
readinessProbe:
  httpGet:
    path: /ready
    port: probes
  periodSeconds: {{ $mesh.readinessProbe.periodSeconds }}
  timeoutSeconds: {{ $mesh.readinessProbe.timeoutSeconds }}
  failureThreshold: {{ $mesh.readinessProbe.failureThreshold }}
livenessProbe:
  httpGet:
    path: /live
    port: probes
  periodSeconds: {{ $mesh.livenessProbe.periodSeconds }}
  timeoutSeconds: {{ $mesh.livenessProbe.timeoutSeconds }}
  failureThreshold: {{ $mesh.livenessProbe.failureThreshold }}
{{- end -}}

{{/*
The pod spec of one runtime: (dict "root" $ "runtime" $rt). The mesh container always; for
a grpc runtime also the third-party server and, optionally, its adapter, sharing localhost
and the /models folder. SIGTERM makes the mesh move recently used models to other pods
(mesh.shutdownTimeoutSeconds); preStop first waits for Services to stop routing here. The
server and adapter sleep through that drain in their own preStop so the mesh can still
serve from them, and the grace period covers both waits.
*/}}
{{- define "modelmesh.runtime.podSpec" -}}
{{- $root := .root -}}
{{- $rt := .runtime -}}
{{- $mesh := $root.Values.mesh -}}
{{- $builtin := eq (default "builtin" $rt.type) "builtin" -}}
{{- $drainSeconds := add $mesh.preStopSleepSeconds $mesh.shutdownTimeoutSeconds -}}
{{- $securityContext := $root.Values.containerSecurityContext -}}
serviceAccountName: {{ include "modelmesh.runtime.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ add $drainSeconds 10 }}
{{- include "modelmesh.podCommon" $root }}
{{- with $rt.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $rt.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
  {{- if $rt.affinity }}
  {{- toYaml $rt.affinity | nindent 2 }}
  {{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "modelmesh.componentSelector" (dict "root" $root "component" "runtime") | nindent 14 }}
              modelmesh.io/runtime: {{ $rt.name }}
  {{- end }}
{{- with $rt.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: mesh
    image: {{ include "modelmesh.image" (dict "image" $rt.image "default" $root.Values.image "root" $root) }}
    imagePullPolicy: {{ include "modelmesh.pullPolicy" (dict "image" $rt.image "default" $root.Values.image) }}
    args: ["serve"]
    ports:
      - name: grpc
        containerPort: {{ $mesh.grpcPort }}
      - name: http
        containerPort: {{ $mesh.restPort }}
      - name: probes
        containerPort: {{ $mesh.probePort }}
      {{- if $root.Values.metrics.enabled }}
      - name: metrics
        containerPort: {{ $root.Values.metrics.port }}
      {{- end }}
    env:
      {{- include "modelmesh.mesh.env" (dict "root" $root "runtime" $rt) | nindent 6 }}
    {{- include "modelmesh.mesh.probes" $root | nindent 4 }}
    lifecycle:
      preStop:
        sleep:
          seconds: {{ $mesh.preStopSleepSeconds }}
    resources:
      {{- toYaml (ternary $rt.resources $mesh.resources $builtin) | nindent 6 }}
    securityContext:
      {{- toYaml $securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      - name: models
        mountPath: /models
      {{- if $builtin }}
      - name: model-cache
        mountPath: /model-cache
      {{- end }}
      - name: storage-config
        mountPath: /etc/modelmesh/storage
        readOnly: true
      - name: etcd-connection
        mountPath: /etc/modelmesh/etcd
        readOnly: true
      {{- if $root.Values.tls.enabled }}
      - name: tls
        mountPath: /etc/modelmesh/tls
        readOnly: true
      {{- end }}
  {{- if not $builtin }}
  {{- $server := $rt.server }}
  - name: server
    image: {{ include "modelmesh.image" (dict "image" $server.image "default" (dict) "root" $root) }}
    imagePullPolicy: {{ include "modelmesh.pullPolicy" (dict "image" $server.image "default" (dict)) }}
    {{- with $server.command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $server.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $server.env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    lifecycle:
      preStop:
        sleep:
          seconds: {{ $drainSeconds }}
    {{- with $server.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml (default $securityContext $server.securityContext) | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      - name: models
        mountPath: /models
  {{- $adapter := default (dict) $rt.adapter }}
  {{- if $adapter.enabled }}
  - name: adapter
    image: {{ include "modelmesh.image" (dict "image" $adapter.image "default" $root.Values.image "root" $root) }}
    imagePullPolicy: {{ include "modelmesh.pullPolicy" (dict "image" $adapter.image "default" $root.Values.image) }}
    {{- with $adapter.command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $adapter.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    env:
      - name: INTERNAL_GRPC_PORT
        value: {{ default 8085 $adapter.port | quote }}
      - name: INTERNAL_SERVING_GRPC_PORT
        value: {{ default 8001 $server.grpcPort | quote }}
      - name: STORAGE_CONFIG_DIR
        value: /etc/modelmesh/storage
      - name: HOME
        value: /tmp
      {{- include "modelmesh.runtime.capacityEnv" (dict "runtime" $rt "container" "server") | nindent 6 }}
      {{- with $adapter.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    lifecycle:
      preStop:
        sleep:
          seconds: {{ $drainSeconds }}
    {{- with $adapter.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      - name: models
        mountPath: /models
      - name: storage-config
        mountPath: /etc/modelmesh/storage
        readOnly: true
  {{- end }}
  {{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: models
    emptyDir:
      {{- with $rt.modelsDirSizeLimit }}
      sizeLimit: {{ . }}
      {{- else }} {}
      {{- end }}
  {{- if $builtin }}
  - name: model-cache
    emptyDir:
      {{- with $rt.modelsDirSizeLimit }}
      sizeLimit: {{ . }}
      {{- else }} {}
      {{- end }}
  {{- end }}
  - name: storage-config
    secret:
      secretName: {{ include "modelmesh.storage.secretName" $root }}
  - name: etcd-connection
    secret:
      secretName: {{ include "modelmesh.etcd.connectionSecretName" $root }}
      items:
        - key: {{ include "modelmesh.etcd.connectionSecretKey" $root }}
          path: etcd_connection
  {{- if $root.Values.tls.enabled }}
  - name: tls
    secret:
      secretName: {{ $root.Values.tls.secretName }}
  {{- end }}
{{- end -}}

{{/* ------------------------------------------------------------ validation */}}

{{/*
Every check that JSON schema cannot express (it covers types and unknown keys). All problems
are gathered and reported in one failure, each with the value that fixes it.
*/}}
{{- define "modelmesh.validateValues" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- $names := dict -}}
{{- if not $v.runtimes -}}
{{- $errors = append $errors "runtimes: at least one runtime is needed; keep the default `python` entry or add one under `runtimes:`" -}}
{{- end -}}
{{- range $i, $rt := $v.runtimes -}}
{{- $where := printf "runtimes[%d] (%s)" $i $rt.name -}}
{{- if hasKey $names $rt.name -}}
{{- $errors = append $errors (printf "%s: the name is used twice; give each runtime its own name" $where) -}}
{{- end -}}
{{- $_ := set $names $rt.name true -}}
{{- if gt (len (printf "%s-%s" $v.mesh.serviceName $rt.name)) 50 -}}
{{- $errors = append $errors (printf "%s: the Deployment name %s-%s is longer than 50 characters; shorten the runtime name" $where $v.mesh.serviceName $rt.name) -}}
{{- end -}}
{{- $autoscaling := default (dict) $rt.autoscaling -}}
{{- if and $autoscaling.enabled (gt (int (default 1 $autoscaling.minReplicas)) (int (default 1 $autoscaling.maxReplicas))) -}}
{{- $errors = append $errors (printf "%s: autoscaling.minReplicas is above autoscaling.maxReplicas; set --set runtimes[%d].autoscaling.maxReplicas to at least %v" $where $i $autoscaling.minReplicas) -}}
{{- end -}}
{{- if eq (default "builtin" $rt.type) "builtin" -}}
{{- if or $rt.server $rt.adapter -}}
{{- $errors = append $errors (printf "%s: server and adapter belong to `type: grpc` runtimes; set runtimes[%d].type=grpc or remove them" $where $i) -}}
{{- end -}}
{{- $requests := default (dict) (default (dict) $rt.resources).requests -}}
{{- if not $requests.memory -}}
{{- $errors = append $errors (printf "%s: a builtin runtime's capacity comes from its memory request; set runtimes[%d].resources.requests.memory (e.g. 1Gi)" $where $i) -}}
{{- end -}}
{{- else -}}
{{- $server := default (dict) $rt.server -}}
{{- if not (default (dict) $server.image).repository -}}
{{- $errors = append $errors (printf "%s: a grpc runtime runs a third-party server; set runtimes[%d].server.image.repository" $where $i) -}}
{{- end -}}
{{- $adapter := default (dict) $rt.adapter -}}
{{- if and (not $adapter.enabled) (not $server.managementPort) -}}
{{- $errors = append $errors (printf "%s: the mesh needs a ModelRuntime endpoint; set runtimes[%d].adapter.enabled=true or runtimes[%d].server.managementPort" $where $i $i) -}}
{{- end -}}
{{- if and $adapter.enabled (not (default (dict) (default (dict) $server.resources).requests).memory) -}}
{{- $errors = append $errors (printf "%s: the adapter sizes the server from its memory request; set runtimes[%d].server.resources.requests.memory" $where $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $v.etcd.mode "external" -}}
{{- if not $v.etcd.external.existingSecret -}}
{{- $errors = append $errors "etcd.mode=external: name the Secret holding the etcd_connection JSON with --set etcd.external.existingSecret=<name>" -}}
{{- end -}}
{{- else if $v.etcd.auth.enabled -}}
{{- if and (not $v.etcd.auth.rootPassword) (not $v.etcd.auth.existingSecret) -}}
{{- $errors = append $errors "etcd.auth.enabled: give etcd's root password with --set etcd.auth.rootPassword=<password> or --set etcd.auth.existingSecret=<secret with keys etcd-root-password and etcd_connection>" -}}
{{- end -}}
{{- if and $v.etcd.auth.rootPassword $v.etcd.auth.existingSecret -}}
{{- $errors = append $errors "etcd.auth: rootPassword and existingSecret are both set; keep one (--set etcd.auth.rootPassword= to use the Secret)" -}}
{{- end -}}
{{- end -}}
{{- if and $v.tls.enabled (not $v.tls.secretName) -}}
{{- $errors = append $errors "tls.enabled: name the kubernetes.io/tls Secret with --set tls.secretName=<name>" -}}
{{- end -}}
{{- if and $v.storage.existingSecret $v.storage.config -}}
{{- $errors = append $errors "storage: existingSecret and config are both set; the chart would ignore config. Remove storage.config or --set storage.existingSecret=" -}}
{{- end -}}
{{- if and $v.service.headless (ne $v.service.type "ClusterIP") -}}
{{- $errors = append $errors (printf "service.type=%s cannot be headless; --set service.headless=false, or --set service.type=ClusterIP" $v.service.type) -}}
{{- end -}}
{{- if and $v.metrics.serviceMonitor.enabled (not $v.metrics.enabled) -}}
{{- $errors = append $errors "metrics.serviceMonitor.enabled needs metrics; --set metrics.enabled=true or --set metrics.serviceMonitor.enabled=false" -}}
{{- end -}}
{{- if and $v.metrics.dashboard.enabled (not (.Files.Get "files/grafana-dashboard.json")) -}}
{{- $errors = append $errors "metrics.dashboard.enabled: files/grafana-dashboard.json is missing from the chart; restore it or --set metrics.dashboard.enabled=false" -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ RBAC */}}

{{/*
What the controller does with the serving resources, wherever it watches them: read and
watch InferenceServices and Predictors, patch them (finalizers) and their status; read
(Cluster)ServingRuntimes. Nothing is ever created, replaced or deleted.
*/}}
{{- define "modelmesh.controller.servingRules" -}}
- apiGroups: ["serving.kserve.io"]
  resources: ["inferenceservices", "predictors"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["serving.kserve.io"]
  resources: ["inferenceservices/status", "predictors/status"]
  verbs: ["get", "patch"]
- apiGroups: ["serving.kserve.io"]
  resources: ["servingruntimes"]
  verbs: ["get", "list", "watch"]
{{- end -}}
