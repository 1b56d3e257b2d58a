"""The CE placement policy, the Profiles and stack.yml agree: every node class a function
asks for has a rule that pins it there, every rule serves a class some function uses and
the node scripts can label, and GPU functions get the runtime and the GPU they need."""
from __future__ import annotations

import copy

import pytest
import yaml

from tests.edge.conftest import EDGE, stack

NODE_CLASS = "faasml.io/node-class"
GPU = "nvidia.com/gpu"


def _objects(relative: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((EDGE / relative).read_text()) if d]


POLICY = _objects("placement/kyverno-policy.yaml")[0]
PROFILES = {p["metadata"]["name"]: p for p in _objects("placement/profiles.yaml")}
RUNTIME_CLASSES = {r["metadata"]["name"] for r in _objects("gpu/runtimeclass-nvidia.yaml")}


def scriptable_node_classes() -> set[str]:
    """The classes edge/common.sh lets k3s/server.sh and k3s/agent.sh label nodes with."""
    for line in (EDGE / "common.sh").read_text().splitlines():
        if line.startswith("NODE_CLASSES=("):
            return set(line.split("(", 1)[1].rstrip(")").split())
    raise AssertionError("edge/common.sh defines no NODE_CLASSES")


def rules_by_class(policy: dict) -> dict[str, dict]:
    """node class -> the rule matching pods labelled with it (one rule per class)."""
    rules: dict[str, dict] = {}
    for rule in policy["spec"]["rules"]:
        classes = {m["resources"]["selector"]["matchLabels"][NODE_CLASS] for m in rule["match"]["any"]}
        assert len(classes) == 1, f"rule {rule['name']} matches several classes"
        (node_class,) = classes
        assert node_class not in rules, f"two rules for {node_class}"
        rules[node_class] = rule
    return rules


def placement_problems(stack_document: dict, policy: dict) -> list[str]:
    problems = []
    rules = rules_by_class(policy)
    used = set()
    for name, function in stack_document["functions"].items():
        labels, notes = function.get("labels") or {}, function.get("annotations") or {}
        constraints = [c for c in function.get("constraints") or [] if c.startswith(NODE_CLASS + "=")]
        wanted = {c.split("=", 1)[1] for c in constraints}
        if not wanted:
            if NODE_CLASS in labels:
                problems.append(f"{name}: label {labels[NODE_CLASS]} without a constraint (Standard would not place it)")
            continue
        if len(wanted) > 1:
            problems.append(f"{name}: constraints name several node classes {sorted(wanted)}")
            continue
        (node_class,) = wanted
        used.add(node_class)
        if labels.get(NODE_CLASS) != node_class:
            problems.append(f"{name}: constraint {node_class} but label {labels.get(NODE_CLASS)!r} (CE would not place it)")
        if notes.get(NODE_CLASS) != node_class:
            problems.append(f"{name}: constraint {node_class} but annotation {notes.get(NODE_CLASS)!r} (the selector's node)")
        rule = rules.get(node_class)
        if rule is None:
            problems.append(f"{name}: no policy rule for node class {node_class}")
            continue
        spec = rule["mutate"]["patchStrategicMerge"]["spec"]
        if spec.get("nodeSelector") != {NODE_CLASS: node_class}:
            problems.append(f"rule {rule['name']} does not pin pods to {node_class} nodes")
        gpu_function = function.get("environment", {}).get("FAASML_PROVIDER") == "cuda"
        gives_gpu = any(GPU in (c.get("resources", {}).get("limits") or {}) for c in spec.get("containers", []))
        if gpu_function != gives_gpu:
            problems.append(f"{name}: needs a GPU={gpu_function} but rule {rule['name']} gives one={gives_gpu}")
        if gpu_function:
            problems += _gpu_problems(name, notes, spec)
    for node_class, rule in rules.items():
        if node_class not in used:
            problems.append(f"rule {rule['name']} targets {node_class}, which no function uses")
        if node_class not in scriptable_node_classes():
            problems.append(f"rule {rule['name']} targets {node_class}, which edge/ never labels a node with")
    return problems


def _gpu_problems(name: str, notes: dict, spec: dict) -> list[str]:
    problems = []
    if spec.get("runtimeClassName") not in RUNTIME_CLASSES:
        problems.append(f"{name}: the CE rule's runtimeClassName {spec.get('runtimeClassName')!r} is no RuntimeClass in edge/gpu")
    profiles = [p.strip() for p in notes.get("com.openfaas.profile", "").split(",") if p.strip()]
    if not profiles:
        problems.append(f"{name}: a GPU function without a com.openfaas.profile (Standard/Enterprise)")
    for profile_name in profiles:
        profile = PROFILES.get(profile_name)
        if profile is None:
            problems.append(f"{name}: Profile {profile_name} is not in edge/placement/profiles.yaml")
            continue
        profile_spec = profile["spec"]
        if profile_spec.get("runtimeClassName") not in RUNTIME_CLASSES:
            problems.append(f"Profile {profile_name}: runtimeClassName is no RuntimeClass in edge/gpu")
        if (profile_spec.get("resources") or {}).get("limits", {}).get(GPU) != "1":
            problems.append(f"Profile {profile_name}: no {GPU} limit")
    return problems


def test_stack_and_policy_agree():
    assert placement_problems(stack(), POLICY) == []


def test_every_executor_is_placed():
    for name, function in stack()["functions"].items():
        if function["labels"]["faasml.io/role"] == "executor":
            assert function["labels"].get(NODE_CLASS) in rules_by_class(POLICY), name


def test_the_policy_acts_where_the_functions_run():
    namespaces = {f.get("namespace", "openfaas-fn") for f in stack()["functions"].values()}
    for rule in POLICY["spec"]["rules"]:
        for match in rule["match"]["any"]:
            assert set(match["resources"]["namespaces"]) == namespaces


def test_gpu_nodes_get_the_device_plugin():
    values = yaml.safe_load((EDGE / "gpu" / "device-plugin-values.yaml").read_text())
    assert values["nodeSelector"] == {NODE_CLASS: "gpu"} and values["runtimeClassName"] in RUNTIME_CLASSES


@pytest.mark.parametrize("break_it,expected", [
    (lambda s, p: s["functions"]["minilm-l6-int8"]["labels"].update({NODE_CLASS: "cloud"}),
     "constraint edge but label 'cloud'"),
    (lambda s, p: s["functions"]["minilm-l6-int8"].update(
        constraints=["faasml.io/node-class=fog"], labels={NODE_CLASS: "fog", "faasml.io/role": "executor"},
        annotations={NODE_CLASS: "fog"}), "no policy rule for node class fog"),
    (lambda s, p: p["spec"]["rules"].append(
        {"name": "node-class-fog", "match": {"any": [{"resources": {"selector": {"matchLabels": {NODE_CLASS: "fog"}}}}]},
         "mutate": {"patchStrategicMerge": {"spec": {"nodeSelector": {NODE_CLASS: "fog"}}}}}),
     "targets fog, which no function uses"),
    (lambda s, p: rules_by_class(p)["gpu"]["mutate"]["patchStrategicMerge"]["spec"].pop("containers"),
     "needs a GPU=True but rule node-class-gpu gives one=False"),
    (lambda s, p: s["functions"]["minilm-l6-fp32-gpu"]["annotations"].pop("com.openfaas.profile"),
     "without a com.openfaas.profile"),
])
def test_the_check_finds_mismatches(break_it, expected):
    broken_stack, broken_policy = copy.deepcopy(stack()), copy.deepcopy(POLICY)
    break_it(broken_stack, broken_policy)
    problems = placement_problems(broken_stack, broken_policy)
    assert any(expected in p for p in problems), problems
