# Helpers shared by edge/ scripts (sourced, not run); also loads the pinned versions.
# shellcheck shell=bash
# shellcheck source=versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"

# The node classes stack.yml's functions ask for (faasml.io/node-class).
NODE_CLASSES=(edge cloud gpu)

require_node_class() {
  local wanted="$1" known
  for known in "${NODE_CLASSES[@]}"; do
    [[ "$wanted" == "$known" ]] && return 0
  done
  echo "unknown node class '$wanted' (one of: ${NODE_CLASSES[*]})" >&2
  exit 2
}

require_root() {
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "run as root (sudo): k3s installs a system service" >&2
    exit 1
  fi
}

require_tool() {
  command -v "$1" >/dev/null 2>&1 || { echo "needs $1 on the PATH ($2)" >&2; exit 1; }
}

wait_for_node() {
  local node="$1" tries=60
  until k3s kubectl get node "$node" >/dev/null 2>&1; do
    tries=$((tries - 1))
    if [[ "$tries" -le 0 ]]; then
      echo "node $node did not register within 2 minutes" >&2
      exit 1
    fi
    sleep 2
  done
  k3s kubectl wait --for=condition=Ready "node/$node" --timeout=120s
}

# kubectl and helm, for the scripts that act on a running cluster.
require_cluster_tools() {
  require_tool kubectl "https://kubernetes.io/docs/tasks/tools/ (k3s ships one)"
  require_tool helm "https://helm.sh/docs/intro/install/"
}
