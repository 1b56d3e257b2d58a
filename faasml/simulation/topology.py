"""What the simulated cluster is: nodes (CPUs, round trip, site), functions and where
their replicas run, gateways, selector replicas and the control plane's CPU costs.

Two ways to describe one:

* **local** (`local_topology`): a stack file and a nodes file, placed as `faasml up`
  places them (faasml/runtime: constraints and the node-class annotation pick the nodes,
  replicas spread over them, `requests.cpu` becomes a CPU weight). The nodes are CPU
  sets of one machine, so they lie inside one machine pool, where the unpinned processes
  run: the gateway, the selector and the load generator, each costing measured CPU per
  request (`Control`). This is what `--validate` compares with `faasml bench evaluate`.
* **generated** (`generated_topology`, a scenario's `cluster:` section): edge sites, each
  with its own gateway, nodes and round trip, and cloud nodes behind a gateway of their
  own; the functions (annotations from the stack file) with their replicas per site.

A function's attributes (task, accuracy, latency annotation, CPU request, queue bound)
come from the stack file in both cases, so the simulated registry is the deployed one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from faasml.cpu import NICE_STEP, cpu_millis, nice_for

EXECUTOR_ROLE = "executor"
SELECTOR_ROLE = "selector"
MAIN_GATEWAY = "main"
BALANCERS = ("least-inflight", "round-robin")


class TopologyError(ValueError):
    """A cluster description that cannot be built; the message names what is wrong."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpus: float
    rtt_ms: float = 0.0             # from the selector to this node (faasml up: the gateway's sleep)
    gateway: str = MAIN_GATEWAY     # the site whose gateway serves its functions
    inside: str | None = None       # the machine pool it lies in (a CPU set of one machine)
    slowdown: float = 1.0           # its service times, as a multiple of the profiles'
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Deployment:
    """One function on one gateway, and the node of each of its replicas."""

    name: str
    gateway: str
    task: str
    model: str                      # the model it serves (its correctness row)
    annotations: Mapping[str, str] = field(hash=False, default_factory=dict)
    nodes: tuple[str, ...] = ()     # one entry per replica; empty: unschedulable
    cpu_millis: float = 1000.0
    max_inflight: int = 0           # the gateway answers 429 past this many in flight per replica (0: none)
    unschedulable: str = ""

    @property
    def weight(self) -> float:
        """Its processes' CPU weight, as `faasml up` sets it (nice values) and the kernel reads it."""
        return NICE_STEP ** -nice_for(self.cpu_millis)


@dataclass(frozen=True)
class Control:
    """The control plane: where the gateway, the selector replicas and the load generator
    run, and the CPU each spends per request (measured, `calibration.py`). `pool` None:
    no CPU is modelled for them (a cluster's own control nodes are not the bottleneck)."""

    pool: str | None = None
    gateway_ms: float = 0.0          # CPU per pass through a gateway
    selector_ms: float = 0.0         # CPU per request in the selector (parse, decide, forward, answer)
    client_ms: float = 0.0           # the load generator's CPU per request (same machine, live)
    executor_http_ms: float = 0.0    # an executor's CPU per request beyond its compute time (HTTP, JSON)
    selector_cpus: float = 1.0       # the pool of each selector replica when `pool` is "own"


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: tuple[NodeSpec, ...]
    machines: tuple[tuple[str, float], ...]      # pools nodes lie inside: (name, cpus)
    deployments: tuple[Deployment, ...]
    gateways: tuple[str, ...]                    # site names; the first serves the selector
    control: Control = Control()
    selectors: int = 1
    balancer: str = "least-inflight"             # how a gateway picks a replica
    description: str = ""

    def node(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def replicas(self) -> int:
        return sum(len(d.nodes) for d in self.deployments)

    def with_selectors(self, count: int) -> "Topology":
        return replace(self, selectors=count)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "nodes": len(self.nodes), "cpus": sum(n.cpus for n in self.nodes),
                "gateways": len(self.gateways), "functions": len(self.deployments),
                "replicas": self.replicas, "selectors": self.selectors, "balancer": self.balancer,
                "control": self.control.__dict__}


def gateway_url(name: str) -> str:
    return f"http://{name}.gateway.sim:8080"


def model_of(environment: Mapping[str, str], name: str) -> str:
    """The model a function serves: its FAASML_MODEL card's stem (models/x.card.json -> x)."""
    card = environment.get("FAASML_MODEL", "")
    if not card:
        return name
    stem = Path(card).name
    for suffix in (".card.json", ".onnx", ".json"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _max_inflight(environment: Mapping[str, str]) -> int:
    raw = environment.get("max_inflight", "")
    return int(raw) if raw.isdigit() else 0


# ---------------------------------------------------------------- local: faasml up's placement
def local_topology(stack_path: Path, nodes_path: Path | None, control: Control, name: str = "local",
                   task: str | None = None) -> Topology:
    """The platform `faasml up -f stack --nodes nodes` starts on this machine: its nodes
    (CPU sets inside the machine), the executors placed by the runtime's own rules, and
    the control plane on the selector's node."""
    from faasml.runtime.nodes import available_cpus, load_nodes, single_node
    from faasml.runtime.placement import choose_node, fitting_nodes, function_constraints, unschedulable_reason
    from faasml.runtime.stack import load_stack

    stack = load_stack(stack_path)
    nodes = load_nodes(nodes_path)[0] if nodes_path else [single_node()]
    every = available_cpus()
    machine_cpus = len(every)
    specs: list[NodeSpec] = []
    machine = "machine"
    for node in nodes:
        cpus = node.cpus or every
        # Every node is a CPU set of the machine (one holding them all is the machine's size).
        specs.append(NodeSpec(node.name, float(len(cpus)), node.rtt_ms, MAIN_GATEWAY, machine, 1.0,
                              dict(node.labels)))
    deployments: list[Deployment] = []
    per_node: dict[str, int] = {}
    control_pool = machine
    for fname, spec in stack.functions.items():
        role = spec.labels.get("faasml.io/role") or spec.annotations.get("faasml.io/role")
        if role == SELECTOR_ROLE:
            constraints = function_constraints(spec.constraints, spec.annotations)
            fitting = fitting_nodes(nodes, constraints)
            if fitting and fitting[0].cpus and not fitting[0].cpus >= every:
                control_pool = fitting[0].name
            continue
        if role != EXECUTOR_ROLE and "faasml.io/task" not in spec.annotations:
            continue
        ftask = spec.annotations.get("faasml.io/task", "")
        if task is not None and ftask != task:
            continue
        constraints = function_constraints(spec.constraints, spec.annotations)
        fitting = fitting_nodes(nodes, constraints)
        placed: list[str] = []
        reason = ""
        if not fitting:
            reason = unschedulable_reason(nodes, constraints)
        else:
            own: dict[str, int] = {}
            for _ in range(spec.min_replicas):
                node = choose_node(fitting, own, per_node)
                own[node.name] = own.get(node.name, 0) + 1
                per_node[node.name] = per_node.get(node.name, 0) + 1
                placed.append(node.name)
        deployments.append(Deployment(fname, MAIN_GATEWAY, ftask, model_of(spec.environment, fname),
                                      dict(spec.annotations), tuple(placed), cpu_millis(spec.requests),
                                      _max_inflight(spec.environment), reason))
    if not any(d.nodes for d in deployments):
        raise TopologyError(f"{stack_path}: no executor can be placed on the nodes of {nodes_path}")
    control = replace(control, pool=control_pool if control.pool is not None else None)
    return Topology(name, tuple(specs), ((machine, float(machine_cpus)),), tuple(deployments), (MAIN_GATEWAY,),
                    control, 1, "least-inflight",
                    f"faasml up -f {Path(stack_path).name} --nodes {Path(nodes_path).name if nodes_path else '-'} "
                    f"on {machine_cpus} CPUs")


# ---------------------------------------------------------------- generated clusters
CLUSTER_KEYS = {"stack", "sites", "site_nodes", "site_cpus", "site_rtt_ms", "site_slowdown", "cloud_nodes",
                "cloud_cpus", "cloud_rtt_ms", "cloud_slowdown", "functions", "selectors", "control", "balancer"}
FUNCTION_KEYS = {"node_class", "replicas"}
CONTROL_KEYS = {"gateway_ms", "selector_ms", "client_ms", "executor_http_ms", "selector_cpus"}


def _num(where: str, value: Any, low: float = 0.0, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TopologyError(f"{where}: expected a number, got {value!r}")
    if value < low:
        raise TopologyError(f"{where}: must be >= {low:g}, got {value!r}")
    if integer and int(value) != value:
        raise TopologyError(f"{where}: expected a whole number, got {value!r}")
    return float(value)


def _spread(where: str, value: Any, count: int) -> list[float]:
    """A round trip for each of `count` sites: one number, or [low, high] spread evenly."""
    if isinstance(value, list):
        if len(value) != 2:
            raise TopologyError(f"{where}: expected a number or [low, high]")
        low, high = (_num(where, v) for v in value)
        if count == 1:
            return [low]
        return [low + (high - low) * i / (count - 1) for i in range(count)]
    return [_num(where, value)] * count


def generated_topology(spec: Mapping[str, Any], name: str, stack_path: Path, where: str = "cluster") -> Topology:
    """Edge sites and cloud nodes from a scenario's `cluster:` mapping:

    ```yaml
    cluster:
      sites: 20                # edge sites, each its own gateway (site-01 ...)
      site_nodes: 4            # nodes per site
      site_cpus: 2             # CPUs per edge node
      site_rtt_ms: [5, 80]     # round trip from the selector, spread evenly over the sites
      cloud_nodes: 20          # behind one gateway (cloud)
      cloud_cpus: 8
      cloud_rtt_ms: 40
      functions:               # stack.yml's functions: where, and replicas per site (edge) or in all (cloud)
        efficientnet-lite0-int8: {node_class: edge, replicas: 4}
        efficientnet-lite2-fp32: {node_class: cloud, replicas: 40}
      selectors: 4             # selector replicas, each with its own engine and load view
      control: {selector_ms: 0.3, selector_cpus: 1}   # CPU per request; each replica a pool of its own
      balancer: round-robin    # how a gateway picks among a function's replicas (k8s Service)
    ```
    """
    from faasml.runtime.stack import load_stack

    if not isinstance(spec, Mapping):
        raise TopologyError(f"{where}: expected a mapping")
    unknown = set(spec) - CLUSTER_KEYS
    if unknown:
        raise TopologyError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(CLUSTER_KEYS)}")
    stack = load_stack(stack_path if not spec.get("stack") else Path(stack_path).parent / str(spec["stack"]))
    sites = int(_num(f"{where}.sites", spec.get("sites", 0), 0, True))
    site_nodes = int(_num(f"{where}.site_nodes", spec.get("site_nodes", 1), 1, True))
    site_cpus = _num(f"{where}.site_cpus", spec.get("site_cpus", 2), 0.001)
    site_rtts = _spread(f"{where}.site_rtt_ms", spec.get("site_rtt_ms", 10), max(sites, 1))
    site_slowdown = _num(f"{where}.site_slowdown", spec.get("site_slowdown", 1.0), 0.001)
    cloud_nodes = int(_num(f"{where}.cloud_nodes", spec.get("cloud_nodes", 0), 0, True))
    cloud_cpus = _num(f"{where}.cloud_cpus", spec.get("cloud_cpus", 8), 0.001)
    cloud_rtt = _num(f"{where}.cloud_rtt_ms", spec.get("cloud_rtt_ms", 40))
    cloud_slowdown = _num(f"{where}.cloud_slowdown", spec.get("cloud_slowdown", 1.0), 0.001)
    selectors = int(_num(f"{where}.selectors", spec.get("selectors", 1), 1, True))
    balancer = str(spec.get("balancer", "round-robin"))
    if balancer not in BALANCERS:
        raise TopologyError(f"{where}.balancer: one of {list(BALANCERS)}, got {balancer!r}")
    raw_control = spec.get("control") or {}
    if not isinstance(raw_control, Mapping) or set(raw_control) - CONTROL_KEYS:
        raise TopologyError(f"{where}.control: a mapping of {sorted(CONTROL_KEYS)}")
    control = Control(pool="own" if raw_control.get("selector_ms") else None,
                      **{k: _num(f"{where}.control.{k}", v) for k, v in raw_control.items()})
    functions = spec.get("functions")
    if not isinstance(functions, Mapping) or not functions:
        raise TopologyError(f"{where}.functions: a mapping of function -> {{node_class: edge|cloud, replicas: N}}")

    nodes: list[NodeSpec] = []
    site_names = [f"site-{i + 1:02d}" for i in range(sites)]
    for site, rtt in zip(site_names, site_rtts):
        for j in range(site_nodes):
            nodes.append(NodeSpec(f"{site}-n{j + 1}", site_cpus, rtt, site, None, site_slowdown,
                                  {"faasml.io/node-class": "edge"}))
    for j in range(cloud_nodes):
        nodes.append(NodeSpec(f"cloud-n{j + 1:02d}", cloud_cpus, cloud_rtt, "cloud", None, cloud_slowdown,
                              {"faasml.io/node-class": "cloud"}))
    deployments: list[Deployment] = []
    for fname, fspec in functions.items():
        fwhere = f"{where}.functions.{fname}"
        if not isinstance(fspec, Mapping) or set(fspec) - FUNCTION_KEYS:
            raise TopologyError(f"{fwhere}: expected {{node_class: edge|cloud, replicas: N}}")
        stack_spec = stack.functions.get(str(fname))
        if stack_spec is None:
            raise TopologyError(f"{fwhere}: no function {fname!r} in {stack_path}")
        on = fspec.get("node_class", "edge")
        replicas = int(_num(f"{fwhere}.replicas", fspec.get("replicas", 1), 1, True))
        if on == "edge":
            if not sites:
                raise TopologyError(f"{fwhere}: on the edge, but the cluster has no sites")
            groups = [(site, [n for n in nodes if n.gateway == site]) for site in site_names]
        elif on == "cloud":
            if not cloud_nodes:
                raise TopologyError(f"{fwhere}: in the cloud, but the cluster has no cloud nodes")
            groups = [("cloud", [n for n in nodes if n.gateway == "cloud"])]
        else:
            raise TopologyError(f"{fwhere}.node_class: edge or cloud, got {on!r}")
        annotations = dict(stack_spec.annotations)
        annotations["faasml.io/node-class"] = on
        for gateway, group in groups:
            placed = [group[i % len(group)].name for i in range(replicas)]
            deployments.append(Deployment(str(fname), gateway, annotations.get("faasml.io/task", ""),
                                          model_of(stack_spec.environment, str(fname)), annotations,
                                          tuple(placed), cpu_millis(stack_spec.requests),
                                          _max_inflight(stack_spec.environment)))
    gateways = [MAIN_GATEWAY] + site_names + (["cloud"] if cloud_nodes else [])
    return Topology(name, tuple(nodes), (), tuple(deployments), tuple(gateways), control, selectors, balancer,
                    f"{sites} edge sites x {site_nodes} nodes x {site_cpus:g} CPUs (RTT "
                    f"{min(site_rtts):g}-{max(site_rtts):g} ms), {cloud_nodes} cloud nodes x {cloud_cpus:g} CPUs "
                    f"(RTT {cloud_rtt:g} ms), {selectors} selector replica(s)")


def listing(topology: Topology, gateway: str, ready: Mapping[tuple[str, str], int]) -> list[dict[str, Any]]:
    """What `GET /system/functions` of one simulated gateway answers: `faasml up`'s shape,
    with the nodes its replicas run on, their CPUs and round trips (the registry pools a
    function spread over several nodes, engine/variant.py), `ready` replicas per
    (gateway, function), and direct addresses for replicas on nodes without a round trip
    (as `faasml up` offers them)."""
    by_name = {n.name: n for n in topology.nodes}
    functions = []
    for d in topology.deployments:
        if d.gateway != gateway:
            continue
        nodes = sorted(set(d.nodes))
        status: dict[str, Any] = {
            "name": d.name, "namespace": "openfaas-fn", "replicas": max(1, len(d.nodes)),
            "availableReplicas": ready.get((gateway, d.name), 0),
            "labels": {"faasml.io/role": EXECUTOR_ROLE}, "annotations": dict(d.annotations),
            "requests": {"cpu": f"{d.cpu_millis:g}m"},
            "faasml": {"nodes": nodes, "cpus": {n: int(round(by_name[n].cpus)) for n in nodes},
                       "rttMs": {n: by_name[n].rtt_ms for n in nodes}},
        }
        if d.unschedulable:
            status["faasml"]["unschedulable"] = d.unschedulable
        elif topology.machines and all(by_name[n].rtt_ms == 0 for n in nodes):
            # faasml up offers every replica on a node without a simulated round trip
            status["faasml"]["directUrls"] = [replica_url(gateway, d.name, i) for i in range(len(d.nodes))]
        functions.append(status)
    return functions


def replica_url(gateway: str, function: str, index: int) -> str:
    return f"http://{gateway}.{function}.{index}.replica.sim:8080"


def stack_tasks(deployments: Sequence[Deployment]) -> list[str]:
    return sorted({d.task for d in deployments})
