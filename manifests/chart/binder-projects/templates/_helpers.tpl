{{/*
Names. The webhook's objects are named <fullname>, the projects service's <fullname>-service. The
release "binder-projects" (the documented one) gives fullname "binder-projects".
*/}}
{{- define "binder-projects.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "binder-projects.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "binder-projects.serviceFullname" -}}
{{- printf "%s-service" (include "binder-projects.fullname" .) }}
{{- end }}

{{- define "binder-projects.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: only what never changes for a release (name, instance, component), so that an
upgrade never needs a Deployment's immutable selector changed.
*/}}
{{- define "binder-projects.selectorLabels" -}}
app.kubernetes.io/name: {{ include "binder-projects.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of every object: the selector labels, the version and who manages it. */}}
{{- define "binder-projects.labels" -}}
{{ include "binder-projects.selectorLabels" . }}
app.kubernetes.io/part-of: binder-projects
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "binder-projects.chart" .root }}
{{- end }}

{{- define "binder-projects.webhookServiceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create }}
{{- default (include "binder-projects.fullname" .) .Values.webhook.serviceAccount.name }}
{{- else }}
{{- required "webhook.serviceAccount.name: give the existing ServiceAccount to run as when webhook.serviceAccount.create is false" .Values.webhook.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "binder-projects.serviceServiceAccountName" -}}
{{- if .Values.projectsService.serviceAccount.create }}
{{- default (include "binder-projects.serviceFullname" .) .Values.projectsService.serviceAccount.name }}
{{- else }}
{{- required "projectsService.serviceAccount.name: give the existing ServiceAccount to run as when projectsService.serviceAccount.create is false" .Values.projectsService.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: repository@digest when a digest is given, else repository:tag (default: appVersion). */}}
{{- define "binder-projects.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The TLS Secret the webhook serves from. */}}
{{- define "binder-projects.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- required "tls.secret.name: with tls.mode=secret, name the kubernetes.io/tls Secret (tls.crt, tls.key) in the release namespace" .Values.tls.secret.name }}
{{- else }}
{{- printf "%s-tls" (include "binder-projects.fullname" .) }}
{{- end }}
{{- end }}

{{/* The DNS names the API server calls the webhook's Service by. */}}
{{- define "binder-projects.webhookDNSNames" -}}
{{- $svc := include "binder-projects.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson }}
{{- end }}

{{/*
Topology spread constraints: each entry without a labelSelector gets the component's selector
labels, so the default spreads the replicas over nodes without naming the release in values.
*/}}
{{- define "binder-projects.topologySpreadConstraints" -}}
{{- $out := list }}
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "binder-projects.selectorLabels" $.ctx | fromYaml)) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
The webhook's namespaceSelector. `serve` caches, and its Role grants, only the release namespace:
a pod from any other namespace would be refused (its claim cannot be read). So a selector must pin
kubernetes.io/metadata.name to the release namespace (matchLabels, or an In expression of that one
value) and name no other value for that key; other labels only narrow it. No requirements at all:
the pin alone. Anything else fails the render.
*/}}
{{- define "binder-projects.namespaceSelector" -}}
{{- $ns := .Release.Namespace }}
{{- $key := "kubernetes.io/metadata.name" }}
{{- $sel := .Values.webhook.namespaceSelector | default dict }}
{{- $labels := $sel.matchLabels | default dict }}
{{- $exprs := $sel.matchExpressions | default list }}
{{- if and (empty $labels) (empty $exprs) }}
{{- printf "matchLabels: {%s: %s}" $key $ns }}
{{- else }}
{{- $pinned := false }}
{{- $other := false }}
{{- if hasKey $labels $key }}
{{- if eq (get $labels $key | toString) $ns }}{{ $pinned = true }}{{ else }}{{ $other = true }}{{ end }}
{{- end }}
{{- range $exprs }}
{{- if eq .key $key }}
{{- if and (eq .operator "In") (eq (.values | default list | toJson) (list $ns | toJson)) }}{{ $pinned = true }}{{ else }}{{ $other = true }}{{ end }}
{{- end }}
{{- end }}
{{- if or (not $pinned) $other }}
{{- fail (printf "webhook.namespaceSelector %s could select a namespace other than the release namespace: the webhook watches and is granted (a Role) only its own namespace %s, so every singleuser pod from any other namespace would be refused (its claim cannot be read). Leave it empty (%s), or keep kubernetes.io/metadata.name: %s in matchLabels and narrow it with other labels; for another hub, install one release per hub namespace" ($sel | toJson) $ns $ns $ns) }}
{{- end }}
{{- toYaml $sel }}
{{- end }}
{{- end }}

{{/* The hub's Secret key that holds the projects service's API token (z2jh's naming). */}}
{{- define "binder-projects.apiTokenKey" -}}
{{- default (printf "hub.services.%s.apiToken" .Values.projectsService.name) .Values.projectsService.apiToken.secretKey }}
{{- end }}

{{/*
tls.mode=helm: the CA and the serving certificate, as YAML (caCert, caKey, caNotAfter, cert, key,
notAfter, dnsNames, caBundle). The Secrets already in the cluster are reused (`lookup`) while they are
valid for renewDaysBefore more days and, for the serving certificate, signed by that CA for exactly
these DNS names; otherwise new ones are made. A replaced CA stays in the caBundle beside the new one,
so replicas still serving the old certificate are trusted until they reload. Computed once per render
(kept in .Values.tls._generated) so that every template sees the same certificate.
*/}}
{{- define "binder-projects.helmTLS" -}}
{{- if not (hasKey .Values.tls "_generated") }}
{{- $fullname := include "binder-projects.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $names := include "binder-projects.webhookDNSNames" . | fromJsonArray }}
{{- $days := int .Values.tls.helm.validityDays }}
{{- $now := now | unixEpoch | int64 }}
{{- $validUntil := add $now (mul (int .Values.tls.helm.renewDaysBefore) 86400) }}
{{- $caSecret := lookup "v1" "Secret" $ns (printf "%s-ca" $fullname) | default dict }}
{{- $tlsSecret := lookup "v1" "Secret" $ns (printf "%s-tls" $fullname) | default dict }}
{{- $caCrt := dig "data" "tls.crt" "" $caSecret }}
{{- $caKey := dig "data" "tls.key" "" $caSecret }}
{{- $caNotAfter := dig "metadata" "annotations" "binder-projects.io/not-after" "0" $caSecret | int64 }}
{{- $out := dict "dnsNames" (join "," $names) }}
{{- $oldCA := "" }}
{{- $ca := dict }}
{{- if and $caCrt $caKey (gt $caNotAfter $validUntil) }}
{{- $ca = buildCustomCert $caCrt $caKey }}
{{- $_ := set $out "caNotAfter" (toString $caNotAfter) }}
{{- else }}
{{- if $caCrt }}
{{- $oldCA = b64dec $caCrt }}
{{- end }}
{{- $ca = genCA (printf "%s-ca" $fullname) $days }}
{{- $_ := set $out "caNotAfter" (toString (add $now (mul $days 86400))) }}
{{- end }}
{{- $_ := set $out "caCert" $ca.Cert }}
{{- $_ := set $out "caKey" $ca.Key }}
{{- $crt := dig "data" "tls.crt" "" $tlsSecret }}
{{- $key := dig "data" "tls.key" "" $tlsSecret }}
{{- $signedBy := dig "data" "ca.crt" "" $tlsSecret }}
{{- $crtNames := dig "metadata" "annotations" "binder-projects.io/dns-names" "" $tlsSecret }}
{{- $crtNotAfter := dig "metadata" "annotations" "binder-projects.io/not-after" "0" $tlsSecret | int64 }}
{{- if and $crt $key (eq $signedBy (b64enc $ca.Cert)) (eq $crtNames (join "," $names)) (gt $crtNotAfter $validUntil) }}
{{- $_ := set $out "cert" (b64dec $crt) }}
{{- $_ := set $out "key" (b64dec $key) }}
{{- $_ := set $out "notAfter" (toString $crtNotAfter) }}
{{- else }}
{{- $c := genSignedCert (first $names) nil $names $days $ca }}
{{- $_ := set $out "cert" $c.Cert }}
{{- $_ := set $out "key" $c.Key }}
{{- $_ := set $out "notAfter" (toString (add $now (mul $days 86400))) }}
{{- end }}
{{- $_ := set $out "caBundle" (printf "%s%s" $ca.Cert $oldCA) }}
{{- $_ := set .Values.tls "_generated" $out }}
{{- end }}
{{- toYaml .Values.tls._generated }}
{{- end }}

{{/* The caBundle of the MutatingWebhookConfiguration, base64, or "" (cert-manager injects it). */}}
{{- define "binder-projects.caBundle" -}}
{{- if eq .Values.tls.mode "helm" }}
{{- (include "binder-projects.helmTLS" . | fromYaml).caBundle | b64enc }}
{{- else if and (eq .Values.tls.mode "secret") .Values.tls.caBundle }}
{{- .Values.tls.caBundle | b64enc }}
{{- end }}
{{- end }}
