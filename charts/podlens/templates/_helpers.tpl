{{/* Names and labels. */}}
{{- define "podlens.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podlens.fullname" -}}
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

{{- define "podlens.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "podlens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* podlens.selector: pass (list $ "agent") or (list $ "collector"). */}}
{{- define "podlens.selector" -}}
{{- $top := index . 0 -}}
app.kubernetes.io/name: {{ include "podlens.name" $top }}
app.kubernetes.io/instance: {{ $top.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "podlens.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "podlens.agentServiceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-agent" (include "podlens.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the collector bearer token, or "" when agents send none. */}}
{{- define "podlens.tokenSecret" -}}
{{- if .Values.collector.auth.existingSecret -}}
{{- .Values.collector.auth.existingSecret -}}
{{- else if .Values.collector.enabled -}}
{{- printf "%s-collector-token" (include "podlens.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The collector URL agents export to, or "" (standalone). */}}
{{- define "podlens.collectorURL" -}}
{{- if .Values.agent.collectorURL -}}
{{- .Values.agent.collectorURL -}}
{{- else if .Values.collector.enabled -}}
{{- printf "%s://%s-collector.%s.svc:%d" (ternary "https" "http" .Values.collector.tls.enabled) (include "podlens.fullname" .) .Release.Namespace (int .Values.collector.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* Does the agent talk to the Kubernetes API server or the kubelet (needs the SA token)? */}}
{{- define "podlens.agentNeedsToken" -}}
{{- if or .Values.agent.k8sApi.enabled .Values.agent.kubelet.enabled -}}true{{- end -}}
{{- end -}}

{{/* RBAC rules of the agent's ClusterRole, as YAML; empty when it needs none. */}}
{{- define "podlens.agentRules" -}}
{{- if .Values.agent.k8sApi.enabled }}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- if .Values.agent.kubelet.enabled }}
- apiGroups: [""]
  resources: ["nodes/pods"]
  verbs: ["get"]
{{- if .Values.rbac.kubeletProxyFallback }}
- apiGroups: [""]
  resources: ["nodes/proxy"]
  verbs: ["get"]
{{- end }}
{{- end }}
{{- end -}}

{{/* Mount points inside the agent container. */}}
{{- define "podlens.paths" -}}
{{- dict "config" "/etc/podlens" "token" "/etc/podlens/collector-token" "ca" "/etc/podlens/collector-ca" "client" "/etc/podlens/collector-client" "kubeletCA" "/etc/podlens/kubelet-ca" "spool" "/var/lib/podlens/spool" "saDir" "/var/run/secrets/kubernetes.io/serviceaccount" | toJson -}}
{{- end -}}

{{/* The agent's JSON config (agent CLI contract: docs/helm.md), rendered into the ConfigMap. */}}
{{- define "podlens.agentConfig" -}}
{{- $a := .Values.agent -}}
{{- $p := include "podlens.paths" . | fromJson -}}
{{- $url := include "podlens.collectorURL" . -}}
{{- $output := $a.output | default (ternary "none" "json" (ne $url "")) -}}
{{- $cfg := dict
    "interval" (int $a.interval)
    "output" $output
    "log_level" $a.logLevel
    "metrics_addr" (printf "0.0.0.0:%d" (int $a.metricsPort))
    "cgroup_root" (printf "/host%s" $a.cgroupRoot)
    "cri" (dict "socket" $a.cri.socket)
    "k8s_api" (ternary "auto" "off" $a.k8sApi.enabled)
    "namespaces" (dict "include" .Values.namespaces.include "exclude" .Values.namespaces.exclude)
    "annotations" (dict "monitor" .Values.annotations.monitor "l7" .Values.annotations.l7)
    "host" (dict "monitor" $a.hostMonitor "cgroups" $a.hostCgroups)
    "l7" (dict "enabled" $a.l7.enabled)
-}}
{{- if $a.kubelet.enabled -}}
{{- $kc := dict "token_file" (printf "%s/token" $p.saDir) -}}
{{- if $a.kubelet.caConfigMap -}}
{{- $_ := set $kc "ca_file" (printf "%s/ca.crt" $p.kubeletCA) -}}
{{- else -}}
{{- $_ := set $kc "ca_file" (printf "%s/ca.crt" $p.saDir) -}}
{{- end -}}
{{- $_ := set $cfg "kubelet" $kc -}}
{{- end -}}
{{- if $url -}}
{{- $cc := dict "url" $url -}}
{{- if include "podlens.tokenSecret" . -}}
{{- $_ := set $cc "token_file" (printf "%s/%s" $p.token .Values.collector.auth.key) -}}
{{- end -}}
{{- if and .Values.collector.tls.enabled .Values.collector.tls.secretName -}}
{{- $_ := set $cc "ca_file" (printf "%s/ca.crt" $p.ca) -}}
{{- end -}}
{{- if .Values.collector.tls.clientSecretName -}}
{{- $_ := set $cc "cert_file" (printf "%s/tls.crt" $p.client) -}}
{{- $_ := set $cc "key_file" (printf "%s/tls.key" $p.client) -}}
{{- end -}}
{{- $_ := set $cfg "collector" $cc -}}
{{- end -}}
{{- $spool := dict "max_bytes" (int64 $a.spool.maxBytes) -}}
{{- if $a.spool.disk -}}
{{- $_ := set $spool "dir" $p.spool -}}
{{- end -}}
{{- $_ := set $cfg "spool" $spool -}}
{{- if $a.otlp.url -}}
{{- $_ := set $cfg "otlp" (dict "url" $a.otlp.url) -}}
{{- end -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{/* Directory of the CRI socket (mount: directory). */}}
{{- define "podlens.criDir" -}}
{{- dir .Values.agent.cri.socket -}}
{{- end -}}
