{{/* Names and labels, defined once. */}}

{{- define "vllm.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "vllm.selectorLabels" -}}
app.kubernetes.io/name: vllm
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vllm.labels" -}}
{{ include "vllm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: model-server
app.kubernetes.io/part-of: llm-serving
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
llm-serving/model: {{ .Values.model.servedModelName }}
{{- end -}}

{{/* The vLLM server's arguments, built from values (one flag per list item). The model comes first and
positionally: `vllm serve <model>`; `--model` is deprecated for `vllm serve` (vllm/utils/argparse_utils.py,
FlexibleArgumentParser.parse_args: "you should provide the model as a positional argument ... The `--model`
option will be removed in a future version."). The Deployment's command is ["vllm", "serve"]. */}}
{{- define "vllm.args" -}}
{{- if .Values.weights.uri }}
- {{ .Values.weights.uri }}
- --load-format=runai_streamer
- --model-loader-extra-config={{ .Values.weights.loaderExtraConfig }}
{{- else }}
- {{ .Values.model.id }}
- --revision={{ .Values.model.revision }}
{{- end }}
- --served-model-name={{ .Values.model.servedModelName }}
- --tensor-parallel-size={{ .Values.engine.tensorParallelSize }}
{{- with .Values.engine.quantization }}
- --quantization={{ . }}
{{- end }}
- --max-model-len={{ .Values.engine.maxModelLen }}
- --max-num-seqs={{ .Values.engine.maxNumSeqs }}
- --gpu-memory-utilization={{ .Values.engine.gpuMemoryUtilization }}
- {{ ternary "--enable-prefix-caching" "--no-enable-prefix-caching" .Values.engine.prefixCaching }}
- --kv-cache-dtype={{ .Values.engine.kvCacheDtype | default "auto" }}
- --download-dir=/models
- --port={{ .Values.service.port }}
{{- with .Values.lora.adapters }}
- --enable-lora
- --max-loras={{ $.Values.lora.maxLoras }}
- --max-cpu-loras={{ len . }}
- --max-lora-rank={{ $.Values.lora.maxLoraRank }}
- --lora-modules
{{- range . }}
- {{ .name }}=/adapters/{{ .name }}
{{- end }}
{{- end }}
{{- range .Values.engine.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* GPUs, CPU and memory of one replica: GPUs equal the tensor-parallel size. */}}
{{- define "vllm.resources" -}}
{{- $gpus := int .Values.engine.tensorParallelSize -}}
{{- $memory := mul $gpus (trimSuffix "Gi" .Values.resources.memoryPerGpu | int) -}}
{{- $shm := mul $gpus (trimSuffix "Gi" .Values.resources.shmPerGpu | int) -}}
requests:
  nvidia.com/gpu: {{ $gpus }}
  cpu: {{ mul $gpus (.Values.resources.cpuPerGpu | int) | quote }}
  memory: {{ printf "%dGi" $memory }}
limits:
  nvidia.com/gpu: {{ $gpus }}
  memory: {{ printf "%dGi" (add $memory $shm) }}
{{- end -}}

{{/* What every container of the weights mirror Job shares: hardening, resources, the scratch volume.
Small CPU and memory requests: the Job shares an on-demand node with the model's own pods, which
already hold their requests while they wait for the mirror (a 1-GPU g6.xlarge has ~3.9 CPUs). */}}
{{- define "vllm.mirrorContainer" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: ["ALL"]
resources:
  requests:
    cpu: 500m
    memory: 1Gi
    ephemeral-storage: {{ printf "%dGi" (int .Values.weights.mirror.scratchGi) }}
  limits:
    memory: 4Gi
volumeMounts:
  - name: scratch
    mountPath: /scratch
{{- end -}}
