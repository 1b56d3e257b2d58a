#!/usr/bin/env bash
# Install OpenFaaS CE with helm (pinned chart), expose the gateway's metrics for the
# selector, and print how to log in.
#
#   KUBECONFIG=/etc/rancher/k3s/k3s.yaml edge/openfaas/install.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../common.sh"
require_cluster_tools

kubectl apply -f "$here/namespaces.yaml"
helm repo add openfaas https://openfaas.github.io/faas-netes/ >/dev/null
helm repo update openfaas >/dev/null
helm upgrade --install openfaas openfaas/openfaas \
  --version "$OPENFAAS_CHART_VERSION" \
  --namespace openfaas \
  --values "$here/values.yaml" \
  --wait --timeout 10m
kubectl apply -f "$here/gateway-metrics-service.yaml"
kubectl -n openfaas rollout status deploy/gateway --timeout=5m

# The selector reads /system/functions with the admin password: the same secret, in the
# functions' namespace, mounted at /var/openfaas/secrets/basic-auth-password.
password="$(kubectl -n openfaas get secret basic-auth -o jsonpath='{.data.basic-auth-password}' | base64 -d)"
kubectl -n openfaas-fn create secret generic basic-auth \
  --from-literal=basic-auth-user=admin --from-literal=basic-auth-password="$password" \
  --dry-run=client -o yaml | kubectl apply -f -

echo
echo "OpenFaaS $OPENFAAS_CHART_VERSION is up. From a workstation:"
echo "  export OPENFAAS_URL=http://<any node>:31112"
echo "  kubectl -n openfaas get secret basic-auth -o jsonpath='{.data.basic-auth-password}' | base64 -d | faas-cli login -u admin --password-stdin"
