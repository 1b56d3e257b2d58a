"""Scenario files: the shipped ones parse as the issue describes; bad ones fail clearly."""
from __future__ import annotations

import pytest

from faasml.evaluation.scenario import (SCENARIOS_DIR, ScenarioError, load_scenario, parse_scenario,
                                        resolve_scenarios)

GOOD = {
    "name": "good",
    "task": "image-classification",
    "classes": {"fast": {"share": 1, "tradeoff": 0, "deadline_ms": 50, "max_latency_ms": 50},
                "slow": {"share": 3, "tradeoff": 1, "deadline_ms": 1000}},
}


def write(tmp_path, text: str, name: str = "s.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_scenarios_cover_the_issue():
    scenarios = {s.name: s for s in resolve_scenarios([])}
    assert {"mix", "shifting", "edge-cloud", "text"} <= set(scenarios)
    mix = scenarios["mix"]
    assert [(c.name, c.share, c.tradeoff, c.deadline_ms, c.max_latency_ms) for c in mix.classes] == [
        ("latency-critical", 0.3, 0.0, 50.0, 50.0), ("balanced", 0.5, 0.5, 200.0, None),
        ("accuracy-critical", 0.2, 1.0, 1000.0, None)]
    for scenario in scenarios.values():
        assert {0.25, 0.5, 0.75, 1.0, 1.5} <= set(scenario.loads)
    # edge + cloud: a nodes file with a simulated round trip on the cloud node
    from faasml.runtime.nodes import load_nodes

    nodes, _ = load_nodes(scenarios["edge-cloud"].nodes)
    assert {n.name: n.rtt_ms for n in nodes} == {"edge": 0.0, "cloud": 30.0, "control": 0.0}
    assert scenarios["text"].task == "sentence-embedding" and scenarios["text"].inputs == "sentences"


def test_shifting_mix_rises_and_falls():
    shifting = load_scenario(SCENARIOS_DIR / "shifting.yml")
    critical = shifting.class_names.index("latency-critical")
    start, middle, end = (shifting.shares_at(x)[critical] for x in (0.0, 0.5, 1.0))
    assert middle > 2 * start and middle > 2 * end
    assert abs(sum(shifting.shares_at(0.2)) - 1) < 1e-9
    # a class's share is its share averaged over the run
    assert abs(shifting.by_name("latency-critical").share - shifting.mean_shares()[critical]) < 1e-9


def test_shares_are_normalised_and_queries_built():
    scenario = parse_scenario(GOOD)
    assert [c.share for c in scenario.classes] == [0.25, 0.75]
    assert scenario.by_name("fast").query() == {"tradeoff": "0", "max_latency_ms": "50"}
    assert scenario.by_name("slow").query() == {"tradeoff": "1"}


def test_interpolation_between_keyframes():
    document = dict(GOOD, mix=[{"at": 0, "shares": {"fast": 1}}, {"at": 1, "shares": {"slow": 1}}])
    scenario = parse_scenario(document)
    assert scenario.shares_at(0.25) == pytest.approx((0.75, 0.25))


@pytest.mark.parametrize("text, message", [
    ("task: [unclosed", "not valid YAML (line 1"),
    ("- a list", "mapping at the top level"),
    ("classes: {}", "needs `task`"),
    ("task: image-classification\nclasses: {a: {share: 1, tradeoff: 0}}", "classes.a: missing `deadline_ms`"),
    ("task: image-classification\nclasses: {a: {share: 1, tradeoff: 2, deadline_ms: 5}}", "classes.a.tradeoff: must be within"),
    ("task: image-classification\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: fast}}", "expected a number"),
    ("task: image-classification\nclasses: {a: {share: 0, tradeoff: 0, deadline_ms: 5}}", "shares must add up"),
    ("task: image-classification\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: 5, colour: red}}", "unknown key(s) ['colour']"),
    ("task: image-classification\nspeed: 3\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: 5}}", "unknown key(s) ['speed']"),
    ("task: image-classification\ninputs: video\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: 5}}", "`inputs` must be one of"),
    ("task: image-classification\nloads: [0.5, -1]\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: 5}}", "loads[1]: must be > 0"),
    ("task: image-classification\nnodes: missing.yml\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: 5}}", "does not exist"),
    ("task: image-classification\nclasses: {a: {tradeoff: 0, deadline_ms: 5}}\nmix: [{at: 0, shares: {b: 1}}, {at: 1, shares: {a: 1}}]", "mix[0]: unknown class(es) ['b']"),
    ("task: image-classification\nclasses: {a: {tradeoff: 0, deadline_ms: 5}}\nmix: [{at: 1, shares: {a: 1}}, {at: 0, shares: {a: 1}}]", "increasing `at`"),
])
def test_bad_scenarios_say_what_is_wrong(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_scenario_name_lists_the_known_ones(tmp_path):
    write(tmp_path, "task: image-classification\nclasses: {a: {share: 1, tradeoff: 0, deadline_ms: 5}}", "one.yml")
    with pytest.raises(ScenarioError, match="unknown scenario 'two'.*one"):
        resolve_scenarios(["two"], tmp_path)
    assert [s.name for s in resolve_scenarios(["one"], tmp_path)] == ["one"]
