#!/usr/bin/env bash
# One k3s cluster with OpenFaaS and faasml's placement, from bare machines (`make edge-up`).
# Run on the machine that becomes the k3s server, as root:
#
#   sudo NODE_CLASS=cloud AGENTS="pi@pi-1=edge pi@pi-2=edge ubuntu@gpu-1=gpu" EDITION=ce edge/up.sh
#
# NODE_CLASS: this server's class (default cloud). AGENTS: user@host=class pairs joined
# over ssh (each host needs sudo without a password prompt); empty: join them by hand
# with the command server.sh prints. EDITION: ce (default) or pro (Standard/Enterprise).
# Needs curl, helm and ssh/scp (for AGENTS) here. Then deploy: `make deploy`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"
require_root
require_tool curl "the k3s installer"
require_tool helm "https://helm.sh/docs/intro/install/"

NODE_CLASS="${NODE_CLASS:-cloud}" "$here/k3s/server.sh"
export KUBECONFIG=/etc/rancher/k3s/k3s.yaml
# kubectl: k3s ships one (a symlink in /usr/local/bin).

server_url="https://$(hostname -I | awk '{print $1}'):6443"
token="$(cat /var/lib/rancher/k3s/server/node-token)"
for agent in ${AGENTS:-}; do
  host="${agent%%=*}"
  class="${agent#*=}"
  require_node_class "$class"
  echo "joining $host as $class"
  ssh "$host" rm -rf /tmp/faasml-edge  # scp -r into an existing folder would nest it
  scp -rq "$here" "$host:/tmp/faasml-edge"
  # shellcheck disable=SC2029  # expanded here on purpose: the server's URL and token
  ssh "$host" "sudo K3S_URL='$server_url' K3S_TOKEN='$token' NODE_CLASS='$class' /tmp/faasml-edge/k3s/agent.sh"
done
kubectl wait --for=condition=Ready nodes --all --timeout=5m
kubectl get nodes -L faasml.io/node-class

"$here/openfaas/install.sh"
EDITION="${EDITION:-ce}" "$here/placement/install.sh"
if [[ -n "$(kubectl get nodes -l faasml.io/node-class=gpu -o name)" ]]; then
  "$here/gpu/install.sh"
fi
echo
echo "Cluster ready. Next: make deploy OPENFAAS_URL=http://<node>:31112 REGISTRY=<your registry>/"
