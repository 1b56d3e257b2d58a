"""The simulated platform end to end on small topologies built in code: the executors'
FIFO queues and CPU sharing as a request sees them, holding, fallback on faults, the
gateway's view of load, correctness per input, determinism."""
import pytest

from faasml.simulation.simulator import Fault
from faasml.simulation.topology import NodeSpec
from tests.simulation.helpers import deployment, loose, run, simulation, topology


def one_replica(service_ms: float = 10.0, cpus: float = 1.0):
    topo = topology([NodeSpec("n", cpus)], [deployment("a", ("n",), latency_ms=service_ms)])
    return topo, {"a": [service_ms]}


def test_requests_queue_fifo_at_one_replica():
    topo, service = one_replica(10.0)
    sim = simulation(topo, service, [loose()])
    result = run(sim, [0.0, 0.001, 0.002])
    # one at a time, first come first served: done at 10, 20, 30 ms
    assert [r.status for r in result.records] == [200, 200, 200]
    assert [round(r.latency_ms, 6) for r in result.records] == [10.0, 19.0, 28.0]
    # the executor's compute time is its own service, not its wait in the queue
    assert [round(r.compute_ms, 6) for r in result.records] == [10.0, 10.0, 10.0]
    assert all(r.variant == "a" for r in result.records)


def test_replicas_on_one_cpu_share_it():
    topo = topology([NodeSpec("n", 1)], [deployment("a", ("n",)), deployment("b", ("n",))])
    sim = simulation(topo, {"a": [10.0], "b": [10.0]}, [loose()], policy="round-robin")
    result = run(sim, [0.0, 0.0])
    # one to each variant (round robin); both run at half speed on the one CPU
    assert sorted(r.variant for r in result.records) == ["a", "b"]
    assert [round(r.latency_ms, 6) for r in result.records] == [20.0, 20.0]
    assert [round(r.compute_ms, 6) for r in result.records] == [20.0, 20.0]   # contended: the executor sees it


def test_two_cpus_run_two_replicas_at_full_speed():
    topo = topology([NodeSpec("n", 2)], [deployment("a", ("n",)), deployment("b", ("n",))])
    sim = simulation(topo, {"a": [10.0], "b": [10.0]}, [loose()], policy="round-robin")
    assert [round(r.latency_ms, 6) for r in run(sim, [0.0, 0.0]).records] == [10.0, 10.0]


def test_round_trip_and_control_plane_cpu_add_up():
    from faasml.simulation.topology import Control

    control = Control(pool="machine", gateway_ms=1.0, selector_ms=2.0, client_ms=0.5)
    topo = topology([NodeSpec("far", 1, rtt_ms=30.0, inside="machine")], [deployment("a", ("far",))],
                    control=control, machines=(("machine", 2.0),))
    sim = simulation(topo, {"a": [10.0]}, [loose()])
    record = run(sim, [0.0]).records[0]
    # client 0.25 + gateway 1 + selector 1 + gateway 1 (a node with a round trip: through it)
    # + 30 ms away + 10 ms of work + selector 1 + client 0.25
    assert record.latency_ms == pytest.approx(0.25 + 1 + 1 + 1 + 30 + 10 + 1 + 0.25)
    cpu = {group: sum(s.get(group, 0.0) for _, s in sim.cpu_samples) for group in ("gateway", "selector", "harness")}
    assert all(v > 0 for v in cpu.values())


def test_a_full_queue_is_held_in_the_selector_not_shed():
    # 20 ms of work: the third and fourth would queue 40 ms, past the 30 ms queue cap, so
    # they wait in the selector (no_room); each answer frees room for one, newest first
    topo, service = one_replica(20.0)
    sim = simulation(topo, service, [loose()])
    records = run(sim, [0.0, 0.0001, 0.0002, 0.0003]).records
    assert [r.status for r in records] == [200, 200, 200, 200]
    assert [round(r.latency_ms) for r in records] == [20, 40, 80, 60]


def test_a_lost_replica_fails_over_and_comes_back():
    topo = topology([NodeSpec("n1", 1), NodeSpec("n2", 1)],
                    [deployment("a", ("n1",), accuracy=0.9), deployment("b", ("n2",), accuracy=0.7)])
    fault = Fault("replica-lost", at_s=0.005, function="a", restart_s=1.0)
    sim = simulation(topo, {"a": [10.0], "b": [10.0]}, [loose(tradeoff=1.0)], faults=[fault])
    records = run(sim, [0.0, 0.2, 2.5], duration=2.6).records
    # the first was in service on `a` when it died: the connection drops and `b` answers
    assert records[0].status == 200 and records[0].variant == "b"
    assert records[0].latency_ms == pytest.approx(15.0)
    # `a` is marked down for its 2 s cool-down: the next goes to `b`; after it (and the
    # restart at 1 s), `a` again
    assert records[1].variant == "b"
    assert records[2].variant == "a"


def test_a_stalled_node_is_given_up_for_the_next_variant_and_probed_back():
    topo = topology([NodeSpec("n1", 1), NodeSpec("n2", 1)],
                    [deployment("a", ("n1",), accuracy=0.9), deployment("b", ("n2",), accuracy=0.7)])
    fault = Fault("node-stall", at_s=1.0, for_s=2.0, node="n1")
    sim = simulation(topo, {"a": [10.0], "b": [10.0]}, [loose(tradeoff=1.0)], faults=[fault])
    times = [0.0, 1.0005, 1.5, 5.0]
    records = run(sim, times, duration=5.1).records
    assert [r.status for r in records] == [200, 200, 200, 200]
    assert records[0].variant == "a"
    # sent to the stalled node, abandoned at its stall bound (300 ms floor), answered by b
    assert records[1].variant == "b" and records[1].latency_ms == pytest.approx(310.0, abs=1.0)
    assert records[2].variant == "b"             # a stays out while stalled
    # probes every 0.5 s, each given 1 s: the one after the stall ends (at 3 s) finds it
    assert records[3].variant == "a"
    assert not sim.selectors[0].stalled


def test_a_slowed_variant_takes_longer_for_its_window():
    topo, service = one_replica(10.0)
    sim = simulation(topo, service, [loose()], faults=[Fault("slow", at_s=0.5, for_s=0.5, function="a", factor=3.0)])
    records = run(sim, [0.0, 0.6, 1.2], duration=1.3).records
    assert [round(r.latency_ms, 6) for r in records] == [10.0, 30.0, 10.0]


def test_the_gateway_sees_every_callers_load():
    topo, service = one_replica(50.0)
    sim = simulation(topo, service, [loose()])
    sim._start(1.0)
    previous: dict = {}
    gateway = sim.gateways["main"]
    fn = gateway.functions["a"]
    fn.inflight = 3   # three calls of other clients in flight
    load = sim.gateway_loads(gateway, previous, 0.0)["a.openfaas-fn"]
    assert load.inflight == 3.0 and load.replicas == 1 and load.mean_latency_ms is None
    fn.finished, fn.seconds = 4, 0.2
    assert sim.gateway_loads(gateway, previous, 1.0)["a.openfaas-fn"].mean_latency_ms == pytest.approx(50.0)


def test_correct_means_the_answering_variant_is_right_on_that_input():
    topo = topology([NodeSpec("n1", 1), NodeSpec("n2", 1)], [deployment("a", ("n1",)), deployment("b", ("n2",))])
    correct = {"a": [True, False, True, False], "b": [False, False, False, True]}
    sim = simulation(topo, {"a": [10.0], "b": [10.0]}, [loose()], policy="round-robin", correct=correct)
    records = run(sim, [0.0, 0.1, 0.2, 0.3], inputs=[0, 1, 2, 3], duration=0.5).records
    for r in records:
        assert r.correct == correct[r.variant][r.input_index]
        assert r.correct_in_time == (r.correct and r.latency_ms <= r.deadline_ms)


def test_a_deadline_past_is_a_client_timeout_or_late_answer():
    topo, service = one_replica(100.0)
    tight = loose(deadline_ms=50.0)
    records = run(simulation(topo, service, [tight]), [0.0]).records
    assert records[0].status == 200 and not records[0].in_time   # answered, but after its 50 ms


def test_one_seed_one_history_another_seed_another():
    topo = topology([NodeSpec("n1", 1), NodeSpec("n2", 1)], [deployment("a", ("n1",)), deployment("b", ("n2",))])
    service = {"a": [8.0, 10.0, 14.0], "b": [9.0, 10.0, 11.0]}
    times = [i * 0.004 for i in range(200)]
    uniforms = [(i * 0.37) % 1.0 for i in range(200)]

    def history(seed):
        sim = simulation(topo, service, [loose()], policy="random", seed=seed)
        return [(r.variant, round(r.latency_ms, 9)) for r in run(sim, times, uniforms=uniforms).records]
    assert history("x") == history("x")
    assert history("x") != history("y")


def test_several_selector_replicas_each_decide_with_their_own_view():
    topo = topology([NodeSpec("n1", 1), NodeSpec("n2", 1)], [deployment("a", ("n1",)), deployment("b", ("n2",))],
                    selectors=3)
    sim = simulation(topo, {"a": [10.0], "b": [10.0]}, [loose()])
    run(sim, [i * 0.01 for i in range(30)], duration=0.4)
    engines = [s.engine for s in sim.selectors]
    assert len({id(e) for e in engines}) == 3 and len({id(e.state) for e in engines}) == 3
    # the gateway spreads requests over the replicas: each decided some
    assert all(sum(s.first_calls.values()) > 0 for s in sim.selectors)
