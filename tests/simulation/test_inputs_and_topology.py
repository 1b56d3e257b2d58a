"""The simulator's measured inputs (service-time distributions, the per-photo table) and
its topologies (faasml up's placement, generated clusters, the listing the registry reads)."""
import json
from pathlib import Path

import pytest

from faasml.evaluation.scenario import SCENARIOS_DIR, load_scenario
from faasml.selector.engine.registry import build_snapshot
from faasml.simulation.faults import FaultError, parse_faults
from faasml.simulation.service import (ServiceTimes, decode_bits, encode_bits, load_correctness, retry_uniform,
                                       service_times)
from faasml.simulation.topology import (Control, TopologyError, generated_topology, gateway_url, listing,
                                        local_topology)

REPO = Path(__file__).resolve().parents[2]
SIM = SCENARIOS_DIR / "simulation"


def test_service_times_read_the_distribution_by_quantile():
    times = ServiceTimes([30.0, 10.0, 20.0])
    assert times.quantile(0.0) == 10.0 and times.quantile(0.5) == 20.0
    assert times.quantile(0.25) == pytest.approx(15.0) and times.quantile(0.999) == pytest.approx(29.98)
    assert ServiceTimes([7.0]).quantile(0.9) == 7.0
    assert 0.0 <= retry_uniform(0.9, 1) < 1.0 and retry_uniform(0.3, 0) == 0.3
    # a profile without samples (an older file) stands in with its median, constant
    found = service_times({"new": {"compute_ms": 9, "compute_ms_samples": [8, 9, 12]}, "old": {"compute_ms": 9}})
    assert found["new"].samples == [8.0, 9.0, 12.0] and found["old"].constant


def test_bits_round_trip():
    bits = (True, False, False, True, True, False, True)
    text = encode_bits(bits)
    assert text == "9a" and decode_bits(text, len(bits)) == bits


def test_the_shipped_tables_describe_the_reference_variants():
    table = load_correctness(SIM / "correctness.json")
    assert len(table.photos) == 1000 and table.photos == tuple(sorted(table.photos))
    # fp32 top-1 on the sample, as `faasml models eval` measured it for stack.yml
    declared = {"efficientnet-lite0-fp32": 0.779, "efficientnet-lite1-fp32": 0.827, "efficientnet-lite2-fp32": 0.824}
    for model, accuracy in declared.items():
        assert table.top1(model) == pytest.approx(accuracy, abs=0.002)
    # hard photos are hard for every variant: they agree far more than independent draws would
    a, b = table.rows["efficientnet-lite0-fp32"], table.rows["efficientnet-lite2-fp32"]
    both_wrong = sum(1 for x, y in zip(a, b) if not x and not y) / len(a)
    assert both_wrong > 2 * (1 - table.top1("efficientnet-lite0-fp32")) * (1 - table.top1("efficientnet-lite2-fp32"))
    pool = table.for_pool(list(table.photos[:5]))
    assert pool["efficientnet-lite0-fp32"] == list(a[:5])
    profiles = json.loads((SIM / "profiles.json").read_text())["variants"]
    for name, profile in profiles.items():
        assert len(profile["compute_ms_samples"]) >= 50, name
        assert profile["compute_ms_samples"] == sorted(profile["compute_ms_samples"])


def test_local_topology_places_as_faasml_up_does():
    topo = local_topology(REPO / "stack.yml", REPO / "edge" / "nodes.local.yml", Control(pool="machine"),
                          task="image-classification")
    by_name = {d.name: d for d in topo.deployments}
    assert by_name["efficientnet-lite0-int8"].nodes == ("edge",)
    assert by_name["efficientnet-lite2-fp32"].nodes == ("cloud",)
    assert by_name["efficientnet-lite2-fp32-gpu"].nodes == () and by_name["efficientnet-lite2-fp32-gpu"].unschedulable
    # requests.cpu as the kernel weighs it: 100m is nice 10, about a tenth of a full CPU
    assert by_name["efficientnet-lite0-fp32"].weight == pytest.approx(1.25 ** -10)
    assert by_name["efficientnet-lite0-int8"].weight == 1.0
    assert all(n.inside == "machine" for n in topo.nodes)
    assert topo.control.pool == "machine"   # the selector's node is unpinned


def test_the_listing_is_what_the_registry_reads():
    topo = local_topology(REPO / "stack.yml", REPO / "scenarios" / "nodes" / "edge-cloud.yml",
                          Control(pool="machine"), task="image-classification")
    ready = {("main", d.name): len(d.nodes) for d in topo.deployments}
    functions = listing(topo, "main", ready)
    snapshot = build_snapshot([(gateway_url("main"), "main", functions)], {}, 0.0, 1)
    variants = {v.id: v for v in snapshot.variants}
    assert variants["efficientnet-lite2-int8"].rtt_ms == 30.0 and variants["efficientnet-lite2-int8"].node == "cloud"
    assert not variants["efficientnet-lite2-int8"].direct_urls      # 30 ms away: through the gateway
    assert variants["efficientnet-lite0-int8"].direct_urls          # local: called directly
    assert variants["efficientnet-lite0-fp32"].cpu_millis == 100.0
    assert variants["efficientnet-lite2-fp32-gpu"].available_replicas == 0


def test_the_cluster_scenario_is_at_scale():
    scenario = load_scenario(SIM / "cluster.yml")
    topo = generated_topology(scenario.cluster, "cluster", REPO / "stack.yml")
    assert len(topo.nodes) >= 100 and topo.replicas >= 1000 and topo.selectors == 4
    rtts = sorted({n.rtt_ms for n in topo.nodes if n.gateway.startswith("site-")})
    assert rtts[0] == 5.0 and rtts[-1] == 80.0
    ready = {(d.gateway, d.name): len(d.nodes) for d in topo.deployments}
    listings = [(gateway_url(g), g, listing(topo, g, ready)) for g in topo.gateways]
    snapshot = build_snapshot(listings, {}, 0.0, 1)
    keys = {v.id for v in snapshot.variants}
    # one function on many gateways: name@site keys; spread over a site's nodes: one pool
    assert "efficientnet-lite0-int8@site-01" in keys
    site = next(v for v in snapshot.variants if v.id == "efficientnet-lite0-int8@site-01")
    assert site.node == "+".join(f"site-01-n{i}" for i in range(1, 5)) and site.node_cpus == 8


def test_bad_clusters_and_faults_are_refused_with_the_field():
    with pytest.raises(TopologyError, match="unknown key"):
        generated_topology({"sites": 2, "cpus": 4}, "x", REPO / "stack.yml")
    with pytest.raises(TopologyError, match="no function"):
        generated_topology({"sites": 1, "functions": {"nope": {"node_class": "edge"}}}, "x", REPO / "stack.yml")
    with pytest.raises(TopologyError, match="node_class"):
        generated_topology({"sites": 1, "functions": {"efficientnet-lite0-int8": {"node_class": "moon"}}}, "x",
                           REPO / "stack.yml")
    topo = local_topology(REPO / "stack.yml", REPO / "edge" / "nodes.local.yml", Control(),
                          task="image-classification")
    faults = parse_faults([{"kind": "node-stall", "at": 0.5, "node": "edge", "for_s": 2}], topo, 10.0)
    assert faults[0].at_s == 5.0 and faults[0].for_s == 2.0
    with pytest.raises(FaultError, match="kind"):
        parse_faults([{"kind": "meteor"}], topo, 10.0)
    with pytest.raises(FaultError, match="node"):
        parse_faults([{"kind": "node-stall", "node": "mars"}], topo, 10.0)
    with pytest.raises(FaultError, match="function"):
        parse_faults([{"kind": "slow", "function": "nope", "factor": 2}], topo, 10.0)


def test_every_shipped_simulation_scenario_builds():
    from faasml.simulation.runner import SimSettings, load_inputs, resolve, scenario_topology

    settings = SimSettings()
    inputs = load_inputs(settings, True)
    names = sorted(p.stem for p in SIM.glob("*.yml"))
    assert {"cluster", "herding", "bursty", "diurnal", "faults"} <= set(names)
    for scenario in resolve(names):
        topo = scenario_topology(scenario, settings, inputs)
        assert topo.replicas > 0
        parse_faults(scenario.faults, topo, 10.0)
