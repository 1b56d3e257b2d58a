#!/usr/bin/env bash
# Join this machine to a k3s server as an agent labelled with its node class.
#
#   sudo K3S_URL=https://<server>:6443 K3S_TOKEN=<token> NODE_CLASS=edge edge/k3s/agent.sh
#
# NODE_CLASS: edge (a board such as a Raspberry Pi), cloud (a bigger CPU machine) or gpu
# (an NVIDIA GPU with its driver and the NVIDIA container toolkit installed first: k3s
# then finds the nvidia runtime and registers the `nvidia` RuntimeClass handler).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../common.sh"

: "${K3S_URL:?set K3S_URL=https://<server>:6443}"
: "${K3S_TOKEN:?set K3S_TOKEN (on the server: /var/lib/rancher/k3s/server/node-token)}"
NODE_CLASS="${NODE_CLASS:-edge}"
require_node_class "$NODE_CLASS"
require_root

if [[ "$NODE_CLASS" == gpu ]] && ! command -v nvidia-container-runtime >/dev/null 2>&1; then
  echo "agent.sh: NODE_CLASS=gpu needs the NVIDIA driver and nvidia-container-toolkit installed first" >&2
  exit 1
fi

curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION="$K3S_VERSION" K3S_URL="$K3S_URL" K3S_TOKEN="$K3S_TOKEN" \
  sh -s - agent --node-label "faasml.io/node-class=$NODE_CLASS"
echo "agent installed; on the server: kubectl get nodes -L faasml.io/node-class"
