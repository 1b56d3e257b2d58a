"""edge/'s Kubernetes objects validate against the pinned Kubernetes version; the custom
resources kubernetes-validate has no schema for (Kyverno ClusterPolicy, OpenFaaS Profile)
are checked for the structure their controllers read."""
from __future__ import annotations

import pytest

from tests.edge.conftest import helm_values_files, kubernetes_documents, pinned_versions

kubernetes_validate = pytest.importorskip("kubernetes_validate")

KUBERNETES_VERSION = pinned_versions()["KUBERNETES_VERSION"]
CUSTOM_GROUPS = ("kyverno.io/", "openfaas.com/")
DOCUMENTS = kubernetes_documents()
BUILTIN = [(where, doc) for where, doc in DOCUMENTS if not doc["apiVersion"].startswith(CUSTOM_GROUPS)]
CUSTOM = [(where, doc) for where, doc in DOCUMENTS if doc["apiVersion"].startswith(CUSTOM_GROUPS)]


def test_edge_has_builtin_and_custom_objects():
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert {"Namespace", "Service", "RuntimeClass", "ClusterPolicy", "Profile"} <= kinds


@pytest.mark.parametrize("where,document", BUILTIN, ids=[w for w, _ in BUILTIN])
def test_builtin_objects_validate_strictly(where, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_object():
    """The check above can fail: a wrong type and an unknown field are both refused."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
               "spec": {"ports": [{"port": "metrics"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)
    service["spec"] = {"ports": [{"port": 8082}], "portz": []}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("where,document", CUSTOM, ids=[w for w, _ in CUSTOM])
def test_custom_resources_are_well_formed(where, document):
    """No schema offline for these: check what their controllers read, and validate the
    embedded core types (pod fields) through a Pod that carries them."""
    assert document["metadata"]["name"]
    if document["kind"] == "ClusterPolicy":
        assert document["apiVersion"] == "kyverno.io/v1"
        assert "namespace" not in document["metadata"]  # cluster-scoped
        rules = document["spec"]["rules"]
        assert rules and len({r["name"] for r in rules}) == len(rules)
        for rule in rules:
            for match in rule["match"]["any"]:
                assert match["resources"]["kinds"] == ["Pod"]
            patch = rule["mutate"]["patchStrategicMerge"]
            _validate_pod_patch(patch["spec"])
    elif document["kind"] == "Profile":
        assert document["apiVersion"] == "openfaas.com/v1"
        assert document["metadata"]["namespace"] == "openfaas"  # where faas-netes reads Profiles
        spec = dict(document["spec"])
        resources = spec.pop("resources", None)
        pod_spec = {**spec, "containers": [{"name": "fn", "image": "fn", **({"resources": resources} if resources else {})}]}
        _validate_pod(pod_spec)
    else:
        pytest.fail(f"{where}: unexpected custom kind {document['kind']}")


def _validate_pod_patch(spec: dict) -> None:
    """A patch's pod fields, with Kyverno's `(name): "*"` anchor read as one container."""
    containers = [{("name" if k == "(name)" else k): (v if k != "(name)" else "fn") for k, v in c.items()}
                  for c in spec.get("containers", [])]
    _validate_pod({**spec, "containers": [{"image": "fn", **c} for c in containers] or
                   [{"name": "fn", "image": "fn"}]})


def _validate_pod(spec: dict) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fn"}, "spec": spec}
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", helm_values_files(), ids=lambda p: p.name)
def test_helm_values_parse_and_name_the_pinned_chart(path):
    import yaml

    values = yaml.safe_load(path.read_text())
    assert isinstance(values, dict) and values
    versions = pinned_versions()
    charts = {"openfaas/openfaas": "OPENFAAS_CHART_VERSION", "kyverno/kyverno": "KYVERNO_CHART_VERSION",
              "nvdp/nvidia-device-plugin": "NVIDIA_DEVICE_PLUGIN_CHART_VERSION"}
    header = path.read_text().split("\n", 1)[0]
    named = [chart for chart in charts if f"chart {chart} " in header]
    assert len(named) == 1, f"{path.name}'s first line names no pinned chart: {header!r}"
    assert f"chart {named[0]} {versions[charts[named[0]]]}" in header, \
        f"{path.name} names another version than edge/versions.env ({versions[charts[named[0]]]})"


def test_openfaas_values_keep_prometheus_and_the_ce_basics():
    import yaml

    from tests.edge.conftest import EDGE

    values = yaml.safe_load((EDGE / "openfaas" / "values.yaml").read_text())
    assert values["functionNamespace"] == "openfaas-fn" and values["generateBasicAuth"] is True
    assert values["openfaasPro"] is False and values["prometheus"]["create"] is True
    assert values["gateway"]["nodePort"] == 31112
