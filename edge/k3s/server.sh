#!/usr/bin/env bash
# Install the k3s server (control plane) on this machine and label it with its node class.
#
#   sudo NODE_CLASS=cloud edge/k3s/server.sh
#
# Prints the join token and URL the agents need (edge/k3s/agent.sh). The server also runs
# workloads; NODE_CLASS says which functions may land on it (edge, cloud or gpu).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../common.sh"

NODE_CLASS="${NODE_CLASS:-cloud}"
require_node_class "$NODE_CLASS"
require_root

# Traefik is not needed: the gateway is reached on its NodePort (31112).
curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION="$K3S_VERSION" sh -s - server \
  --write-kubeconfig-mode 0640 \
  --disable traefik \
  --node-label "faasml.io/node-class=$NODE_CLASS"

wait_for_node "$(hostname)"
address="$(hostname -I | awk '{print $1}')"
echo
echo "k3s server ready. Join agents with:"
echo "  sudo K3S_URL=https://$address:6443 K3S_TOKEN=$(cat /var/lib/rancher/k3s/server/node-token) NODE_CLASS=edge edge/k3s/agent.sh"
