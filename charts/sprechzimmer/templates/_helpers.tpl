{{/*
sprechzimmer.image: the reference of a product image, from (list $ "<name>"):
<registry>/<repository>/<name>:<tag or appVersion>.
*/}}
{{- define "sprechzimmer.image" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $img := $root.Values.image -}}
{{- $repo := printf "%s/%s" $img.repository $name -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default $root.Chart.AppVersion $img.tag) -}}
{{- end }}

{{/*
sprechzimmer.gomemlimit: the Go runtime's soft memory limit for a
container's resources, 85 % of limits.memory in bytes (internal/memlimit:
limit / 100 * 85).
*/}}
{{- define "sprechzimmer.gomemlimit" -}}
{{- $limit := toString (dig "limits" "memory" "" .) -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $limit) -}}
{{- fail (printf "resources.limits.memory %q: want a quantity like 256Mi (GOMEMLIMIT is 85 %% of it)" $limit) -}}
{{- end -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- $n := regexReplaceAll "^([0-9]+).*$" $limit "${1}" | atoi -}}
{{- $unit := regexReplaceAll "^[0-9]+" $limit "" -}}
{{- mul (div (mul $n (get $units $unit)) 100) 85 -}}
{{- end }}
