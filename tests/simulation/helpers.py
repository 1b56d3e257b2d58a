"""Small simulated platforms built in code, for the simulator's tests."""
from __future__ import annotations

from faasml.evaluation.scenario import ClientClass
from faasml.simulation.service import ServiceTimes
from faasml.simulation.simulator import Simulation
from faasml.simulation.topology import MAIN_GATEWAY, Control, Deployment, NodeSpec, Topology

TASK = "image-classification"


def deployment(name: str, nodes: tuple[str, ...], accuracy: float = 0.8, latency_ms: float = 10.0,
               cpu: float = 1000.0, gateway: str = MAIN_GATEWAY, max_inflight: int = 0) -> Deployment:
    return Deployment(name, gateway, TASK, name, {"faasml.io/task": TASK, "faasml.io/accuracy": str(accuracy),
                                                  "faasml.io/latency-ms": str(latency_ms)},
                      nodes, cpu, max_inflight)


def topology(nodes: list[NodeSpec], deployments: list[Deployment], control: Control = Control(),
             machines: tuple = (), selectors: int = 1, gateways: tuple[str, ...] = (MAIN_GATEWAY,)) -> Topology:
    return Topology("test", tuple(nodes), machines, tuple(deployments), gateways, control, selectors,
                    "least-inflight")


def simulation(topo: Topology, service_ms: dict[str, list[float]], classes: list[ClientClass],
               policy: str = "tradeoff", correct: dict[str, list[bool]] | None = None, seed: str = "t",
               faults=(), profiles: dict | None = None) -> Simulation:
    service = {name: ServiceTimes(samples) for name, samples in service_ms.items()}
    profiles = profiles if profiles is not None else {
        name: {"compute_ms": ServiceTimes(samples).median_ms} for name, samples in service_ms.items()}
    return Simulation(topo, TASK, classes, service, profiles, correct, seed, policy, faults)


def loose(deadline_ms: float = 5000.0, tradeoff: float = 0.5, name: str = "loose") -> ClientClass:
    return ClientClass(name, 1.0, tradeoff, deadline_ms)


def run(sim: Simulation, times: list[float], classes: list[str] | None = None, inputs: list[int] | None = None,
        uniforms: list[float] | None = None, duration: float | None = None):
    n = len(times)
    return sim.run_trace(times, classes or [sim.classes[0].name] * n, inputs or [0] * n, uniforms or [0.5] * n,
                         duration if duration is not None else max(times) + 0.001)
