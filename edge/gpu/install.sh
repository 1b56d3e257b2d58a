#!/usr/bin/env bash
# GPU nodes: the nvidia RuntimeClass and the NVIDIA device plugin (pinned chart), which
# advertises nvidia.com/gpu on nodes labelled faasml.io/node-class=gpu. Each GPU node
# needs the NVIDIA driver and nvidia-container-toolkit installed before it joins k3s.
#
#   KUBECONFIG=/etc/rancher/k3s/k3s.yaml edge/gpu/install.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../common.sh"
require_cluster_tools

kubectl apply -f "$here/runtimeclass-nvidia.yaml"
helm repo add nvdp https://nvidia.github.io/k8s-device-plugin >/dev/null
helm repo update nvdp >/dev/null
helm upgrade --install nvidia-device-plugin nvdp/nvidia-device-plugin \
  --version "$NVIDIA_DEVICE_PLUGIN_CHART_VERSION" \
  --namespace nvidia-device-plugin --create-namespace \
  --values "$here/device-plugin-values.yaml" \
  --wait --timeout 10m

# Every GPU node should now advertise its GPUs.
kubectl get nodes -l faasml.io/node-class=gpu \
  -o custom-columns='NODE:.metadata.name,GPUS:.status.allocatable.nvidia\.com/gpu'
