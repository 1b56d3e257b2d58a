#!/usr/bin/env bash
# Placement of functions on labelled nodes.
#   EDITION=ce (default): Kyverno (pinned chart) and the faasml-placement policy, since
#                         OpenFaaS CE ignores constraints and Profiles.
#   EDITION=pro:          the Profiles (OpenFaaS Standard/Enterprise map constraints to a
#                         nodeSelector themselves), plus the Kyverno policy unless
#                         KYVERNO=0 (Standard's Profiles lack runtimeClassName/resources).
#
#   KUBECONFIG=/etc/rancher/k3s/k3s.yaml EDITION=ce edge/placement/install.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../common.sh"
require_tool kubectl "https://kubernetes.io/docs/tasks/tools/"

EDITION="${EDITION:-ce}"
KYVERNO="${KYVERNO:-1}"
case "$EDITION" in
  ce) KYVERNO=1 ;;
  pro) kubectl apply -f "$here/profiles.yaml" ;;
  *) echo "EDITION must be ce or pro, not '$EDITION'" >&2; exit 2 ;;
esac

if [[ "$KYVERNO" == 1 ]]; then
  require_tool helm "https://helm.sh/docs/intro/install/"
  helm repo add kyverno https://kyverno.github.io/kyverno/ >/dev/null
  helm repo update kyverno >/dev/null
  helm upgrade --install kyverno kyverno/kyverno \
    --version "$KYVERNO_CHART_VERSION" \
    --namespace kyverno --create-namespace \
    --values "$here/kyverno-values.yaml" \
    --wait --timeout 10m
  kubectl apply -f "$here/kyverno-policy.yaml"
  kubectl wait --for=condition=Ready clusterpolicy/faasml-placement --timeout=2m
fi
echo "placement for OpenFaaS $EDITION installed; check with: kubectl -n openfaas-fn get pods -o wide"
