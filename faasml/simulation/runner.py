"""`faasml bench simulate`: scenarios x selector replicas x loads x policies, simulated, on
the same traces `faasml bench evaluate` replays live; then the same report.

Per scenario: its topology (the stack on its nodes file, placed as `faasml up` places
it, or its generated `cluster`), the measured inputs (service-time distributions,
control-plane CPU per request, per-photo correctness), capacity (simulated closed loop
under the default policy, as the live harness measures it, or `--capacity`), then per
load one trace, `make_trace` with the live seed (the same arrivals, classes and inputs as
a live run of the same settings) and one uniform number per request for its service
time, and every policy on it. Metrics are the evaluation's (faasml/evaluation/metrics.py
on the evaluation's Record), the report its format and plots, plus what only a
simulation shows: herding, queues, the selector replicas' choices, and its own speed.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from faasml.evaluation import metrics as metrics_mod
from faasml.evaluation.defaults import DEFAULT_DATA, DEFAULT_POLICIES, REPO
from faasml.evaluation.progress import Reporter
from faasml.evaluation.scenario import SCENARIOS_DIR, Scenario, ScenarioError, resolve_scenarios
from faasml.evaluation.trace import closed_loop_sequence, make_trace, trace_seed
from faasml.selector.config import SelectorConfig
from faasml.simulation import observe
from faasml.simulation.faults import parse_faults
from faasml.simulation.service import (Correctness, ProfileError, ServiceTimes, load_correctness, load_profiles_file,
                                       service_times)
from faasml.simulation.simulator import RunResult, Simulation
from faasml.simulation.topology import Control, Topology, TopologyError, generated_topology, local_topology

SIM_DIR = SCENARIOS_DIR / "simulation"
DEFAULT_PROFILES = SIM_DIR / "profiles.json"
DEFAULT_OVERHEADS = SIM_DIR / "overheads.json"
DEFAULT_CORRECTNESS = SIM_DIR / "correctness.json"
DEFAULT_STACK = REPO / "stack.yml"
DEFAULT_NODES = REPO / "edge" / "nodes.local.yml"
RECORDS_LIMIT = 200_000        # cells larger than this keep no records file (plots skip their ECDF)
COMPARE_LIMIT = 2_000_000      # a load's requests (all policies and seeds) kept for the paired comparisons
OURS = "tradeoff"


@dataclass
class SimSettings:
    scenarios: list[str] = field(default_factory=list)      # empty: mix, edge-cloud, shifting, text
    policies: list[str] = field(default_factory=lambda: list(DEFAULT_POLICIES))
    loads: list[float] | None = None
    selectors: list[int] | None = None                      # None: each scenario's own
    duration_s: float = 12.0
    max_requests: int | None = 5000                          # as the live default (0/None: no cap)
    capacity_per_s: float | None = None
    capacity_s: float = 10.0
    capacity_warmup_s: float = 3.0
    capacity_concurrency: int = 16                           # per 2 executor CPUs (the live 16 on this machine)
    images: int = 300
    seed: int = 7
    seeds: int = 1                                          # traces per cell: seed, seed+1, ... (pooled)
    profiles: Path = DEFAULT_PROFILES                       # service-time distributions
    selector_profiles: Path | None = None                   # what the selectors believe (default: profiles)
    overheads: Path = DEFAULT_OVERHEADS
    correctness: Path = DEFAULT_CORRECTNESS
    stack: Path = DEFAULT_STACK
    data: Path = DEFAULT_DATA
    client_timeout_s: float = 5.0
    out: Path | None = None
    records: bool = True
    bound: bool = True
    plots: bool = True
    # Other work on the machine per cell, replayed (--validate on a shared machine): cell
    # "<load>/<policy>" -> [(seconds into the run, cores other processes used)]
    background: dict[str, list[tuple[float, float]]] | None = None


@dataclass
class Inputs:
    """The measured inputs of a simulation, loaded once."""

    service: dict[str, ServiceTimes]
    selector_profiles: dict[str, Any]
    profiles_header: dict[str, Any]
    control: Control
    overheads_header: dict[str, Any]
    correctness: Correctness | None


def load_inputs(settings: SimSettings, need_correctness: bool) -> Inputs:
    data = load_profiles_file(settings.profiles)
    service = service_times(data["variants"])
    selector = load_profiles_file(settings.selector_profiles)["variants"] if settings.selector_profiles \
        else data["variants"]
    overheads: dict[str, Any] = {}
    if settings.overheads and Path(settings.overheads).is_file():
        overheads = json.loads(Path(settings.overheads).read_text())
    control = control_from(overheads)
    correctness = load_correctness(settings.correctness) if need_correctness else None
    header = {k: v for k, v in data.items() if k != "variants"}
    header["constant"] = sorted(n for n, s in service.items() if s.constant)
    return Inputs(service, selector, header, control, {k: v for k, v in overheads.items()
                                                        if not isinstance(v, dict)}, correctness)


def control_from(overheads: dict) -> Control:
    """The control plane's measured CPU per request (overheads.json), on the machine pool."""
    return Control(pool="machine", gateway_ms=float(overheads.get("gateway_ms", 0.0)),
                   selector_ms=float(overheads.get("selector_ms", 0.0)),
                   client_ms=float(overheads.get("client_ms", 0.0)),
                   executor_http_ms=float(overheads.get("executor_http_ms", 0.0)))


def scenario_topology(scenario: Scenario, settings: SimSettings, inputs: Inputs) -> Topology:
    if scenario.cluster is not None:
        topology = generated_topology(scenario.cluster, scenario.name, settings.stack, f"{scenario.source}: cluster")
        return topology if "selectors" in scenario.cluster else topology.with_selectors(scenario.selectors)
    nodes = scenario.nodes or DEFAULT_NODES
    topology = local_topology(settings.stack, nodes, inputs.control, scenario.name, scenario.task)
    return replace(topology, selectors=scenario.selectors)


def input_pool(scenario: Scenario, settings: SimSettings, inputs: Inputs) -> tuple[int, dict[str, list[bool]] | None]:
    """(pool size, per model: right or not on each pool input): the live harness's pool."""
    if scenario.inputs == "sentences":
        from faasml.evaluation.inputs import sentence_inputs

        return len(sentence_inputs(settings.images)), None
    from faasml.models.labelled import LabelledImage, spread_subset

    assert inputs.correctness is not None
    photos = [LabelledImage(Path(name), 0) for name in inputs.correctness.photos]
    pool = [image.path.name for image in spread_subset(photos, settings.images)]
    return len(pool), inputs.correctness.for_pool(pool)


def selector_config() -> SelectorConfig:
    """The selector's settings as a live selector started from this shell reads them: its
    defaults, and any FAASML_* variable set (FAASML_PROTECT_S=0 faasml bench simulate ...)."""
    from faasml.settings import load

    return load(SelectorConfig)


def policy_setting(label: str, base: SelectorConfig) -> tuple[str, SelectorConfig]:
    """A policy as `--policies` names it: `NAME`, or `NAME@VAR=VALUE[+VAR=VALUE...]` for
    the policy under other selector settings (`tradeoff@FAASML_MAX_QUEUE_MS=100`), so two
    settings run on the same traces in one report and are compared pairwise, as two
    policies are. -> (the policy's name, the settings it runs with)."""
    from faasml.selector.engine.policies import POLICIES
    from faasml.settings import ConfigError, load

    name, _, spec = label.partition("@")
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    if not spec:
        return name, base
    overrides: dict[str, str] = {}
    for item in spec.split("+"):
        var, sep, value = item.partition("=")
        if not sep or not var.startswith("FAASML_"):
            raise ValueError(f"policy {label!r}: expected NAME@FAASML_VAR=VALUE[+FAASML_VAR=VALUE...]")
        overrides[var] = value
    known = {env for f in dataclasses.fields(SelectorConfig) for env in f.metadata.get("env", ())}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"policy {label!r}: {', '.join(unknown)} is not a selector setting")
    try:
        return name, load(SelectorConfig, {**os.environ, **overrides})
    except ConfigError as exc:
        raise ValueError(f"policy {label!r}: {exc}") from None


def uniforms(seed: int, scenario: str, level: str, count: int) -> list[float]:
    rng = random.Random(f"{seed}:{scenario}:{level}:service")
    return [rng.random() for _ in range(count)]


# ---------------------------------------------------------------- one scenario
class ScenarioRun:
    def __init__(self, scenario: Scenario, topology: Topology, settings: SimSettings, inputs: Inputs,
                 reporter: Reporter, out: Path):
        self.scenario, self.topology, self.settings, self.inputs = scenario, topology, settings, inputs
        self.reporter, self.out = reporter, out
        self.pool_size, self.correct = input_pool(scenario, settings, inputs)
        self.config = selector_config()
        # one scenario run with several selector-replica counts: one report entry each
        self.tag = scenario.name if settings.selectors is None else f"{scenario.name}-x{topology.selectors}"

    def simulation(self, policy: str | None, faults=(), seed_tag: str = "",
                   background: list[tuple[float, float]] | None = None) -> Simulation:
        name, config = policy_setting(policy, self.config) if policy else (policy, self.config)
        return Simulation(self.topology, self.scenario.task, self.scenario.classes, self.inputs.service,
                          self.inputs.selector_profiles, self.correct, f"{self.settings.seed}:{self.scenario.name}"
                          f"{seed_tag}", name, faults, config, self.settings.client_timeout_s,
                          background=background or (), label=policy)

    def capacity(self, shared: dict[str, dict]) -> dict:
        """100% load: given, or the simulated closed loop; one scenario run with several
        selector-replica counts measures it once (the first count), so all replay one trace."""
        s = self.settings
        if s.capacity_per_s is not None:
            return {"given": True, "throughput_per_s": s.capacity_per_s}
        if self.scenario.name in shared:
            return dict(shared[self.scenario.name], reused=True)
        shared[self.scenario.name] = measured = self._closed_loop()
        return measured

    def _closed_loop(self) -> dict:
        s = self.settings
        # executor CPUs: the machine's on one machine, else every node's
        cpus = sum(c for _, c in self.topology.machines) or sum(n.cpus for n in self.topology.nodes)
        concurrency = max(s.capacity_concurrency, int(round(s.capacity_concurrency * cpus / 2.0)))
        sequence = closed_loop_sequence(self.scenario, 4000, self.pool_size,
                                        trace_seed(s.seed, self.scenario.name, "capacity"))
        sim = self.simulation(None)
        started = time.perf_counter()
        result = sim.run_closed_loop([a.cls for a in sequence], [a.input_index for a in sequence],
                                     uniforms(s.seed, self.scenario.name, "capacity", len(sequence)),
                                     concurrency, s.capacity_warmup_s, s.capacity_s)
        result["wall_s"] = round(time.perf_counter() - started, 2)
        result["policy"] = self.config.policy
        if result["throughput_per_s"] <= 0:
            raise ValueError(f"{self.scenario.name}: simulated capacity is 0 answers/s ({result['outcomes']})")
        return result

    def run(self, shared_capacity: dict[str, dict] | None = None) -> dict:
        scenario, s, topology = self.scenario, self.settings, self.topology
        loads = list(s.loads or scenario.loads)
        result: dict[str, Any] = {
            "name": self.tag, "scenario": scenario.name, "description": scenario.description, "task": scenario.task,
            "inputs": scenario.inputs, "source": str(scenario.source) if scenario.source else None,
            "nodes_file": str(scenario.nodes or (DEFAULT_NODES if scenario.cluster is None else "")),
            "classes": [asdict(c) for c in scenario.classes],
            "mix": [{"at": k.at, "shares": list(k.shares)} for k in scenario.mix],
            "arrivals": asdict(scenario.arrivals), "input_pool": self.pool_size, "loads": [],
            "simulation": {"topology": topology.summary(), "description": topology.description,
                           "faults": list(scenario.faults)}}
        result["topology"] = self._topology_view()
        result["idle"] = self._idle_view()
        result["profiles"] = f"simulated service times from {self.settings.profiles.name}"
        self.reporter.say(f"{self.tag}: {topology.description}; measuring capacity")
        result["capacity"] = capacity = self.capacity({} if shared_capacity is None else shared_capacity)
        rate_100 = capacity["throughput_per_s"]
        how = " (given)" if capacity.get("given") else \
            f" (simulated closed loop, {capacity['concurrency']} clients, {capacity['wall_s']} s wall" + \
            (", measured with the first selector-replica count)" if capacity.get("reused") else ")")
        self.reporter.say(f"{self.tag}: capacity {rate_100:.1f} answers/s{how}")
        for load in loads:
            result["loads"].append(self._level(load, load * rate_100))
        return result

    def _level(self, load: float, rate: float) -> dict:
        """One load: each seed's trace (the first is the live run's), every policy on it.
        With several seeds a policy's figures pool every seed's requests, and each seed's
        own are kept beside them (`seeds`)."""
        scenario, s, topology = self.scenario, self.settings, self.topology
        seeds = [s.seed + k for k in range(max(1, s.seeds))]
        faults = parse_faults(scenario.faults, topology, s.duration_s, f"{scenario.source}: faults")
        traces = {seed: make_trace(scenario, rate, s.duration_s, self.pool_size,
                                   trace_seed(seed, scenario.name, f"{load:g}"), s.max_requests or None)
                  for seed in seeds}
        trace = traces[seeds[0]]
        level: dict[str, Any] = {"load": load, "rate_per_s": round(rate, 3), "trace": {
            "requests": len(trace), "fingerprint": _fingerprint(trace),
            "classes": {c: sum(a.cls == c for a in trace) for c in scenario.class_names}}, "policies": {}}
        if len(seeds) > 1:
            level["trace"]["seeds"] = [{"seed": seed, "requests": len(t), "fingerprint": _fingerprint(t)}
                                       for seed, t in traces.items()]
        first = scenario.class_names[0]
        per_seed: list[dict[str, list]] = [{} for _ in seeds]   # seed -> policy -> records (the pairs)
        keep = sum(len(t) for t in traces.values()) * len(s.policies) <= COMPARE_LIMIT
        for policy in s.policies:
            label = f"{self.tag} {load:.0%} ({rate:.1f}/s) {policy}"
            self.reporter.cell_start(label, sum(len(t) for t in traces.values()))
            runs, wall, cpu = [], 0.0, 0.0
            background = (s.background or {}).get(f"{load:g}/{policy}")
            for seed, arrivals in traces.items():
                sim = self.simulation(policy, faults, f":{load:g}" + (f":{seed}" if seed != s.seed else ""),
                                      background)
                started, cpu_started = time.perf_counter(), time.process_time()
                runs.append(sim.run_trace([a.t_s for a in arrivals], [a.cls for a in arrivals],
                                          [a.input_index for a in arrivals],
                                          uniforms(seed, scenario.name, f"{load:g}", len(arrivals)), s.duration_s))
                wall, cpu = wall + time.perf_counter() - started, cpu + time.process_time() - cpu_started
            summary = self._summary(runs, policy, wall, cpu)
            if keep:
                for k, one in enumerate(runs):
                    per_seed[k][policy] = one.records
            if len(runs) > 1:
                summary["seeds"] = [self._seed_figures(seed, run) for seed, run in zip(seeds, runs)]
            if s.records and len(trace) <= RECORDS_LIMIT:
                from faasml.evaluation.records import cell_file, write_records

                summary["records_file"] = cell_file(self.tag, load, policy)   # the first seed's: the live trace
                write_records(self.out / summary["records_file"], runs[0].records)
            else:
                summary["records_file"] = ""
            level["policies"][policy] = summary
            sim_info = summary["sim"]
            self.reporter.cell_done(
                f"{label}: correct-in-time {summary['correct_in_time_rate']:.3f}, {first} in deadline "
                f"{summary['classes'][first]['deadline_attainment']:.2f}, statuses "
                + " ".join(f"{k}:{v}" for k, v in summary["status"].items() if v)
                + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")
                + f"; {sim_info['requests_per_wall_s']:.0f} simulated requests per wall second, "
                  f"{sim_info['requests_per_cpu_s']:.0f} per CPU second ({wall:.1f} s wall, {cpu:.1f} s CPU, "
                  f"{sim_info['events']} events)")
        if keep and OURS in s.policies and len(s.policies) > 1:
            # ours against each policy: paired over seeds (each seed one pair of runs on one
            # trace), then over time blocks of the requests (faasml/evaluation/stats.py)
            from faasml.evaluation.stats import compare_cell

            level["rounds"] = len(seeds)
            level["comparisons"] = compare_cell(per_seed, OURS, first, seed=s.seed)
        if s.bound:
            level["bound"] = self._bound(trace)
            if "error" not in level["bound"]:
                from faasml.evaluation.runner import ratios

                for summary in level["policies"].values():
                    summary["vs_bound"] = ratios(summary, level["bound"])
        return level

    def _seed_figures(self, seed: int, run: RunResult) -> dict:
        records = run.records
        first = self.scenario.class_names[0]
        mine = [r for r in records if r.cls == first]
        n = len(records)
        return {"seed": seed, "requests": n,
                "correct_in_time_rate": round(sum(r.correct_in_time for r in records) / n, 4) if n else None,
                "first_class_attainment": round(sum(r.in_time for r in mine) / len(mine), 4) if mine else None,
                "mean_utility": round(sum(map(metrics_mod.utility, records)) / n, 4) if n else None}

    def _summary(self, runs: list[RunResult], policy: str, wall: float, cpu: float) -> dict:
        """The evaluation's metrics over every seed's requests together (each seed's trace
        as long as the others: rates per second over their summed durations)."""
        scenario = self.scenario
        run = runs[0]
        records = [r for one in runs for r in one.records] if len(runs) > 1 else run.records
        node_cpus = {k: int(round(v)) for k, v in run.node_cpus.items()}
        summary = metrics_mod.summarise(records, run.duration_s * len(runs), scenario.class_names, run.node_of,
                                        node_cpus, run.work_ms, [x for one in runs for x in one.cpu_samples])
        many = len(run.node_of) > 12
        if many:   # a generated cluster: shares per function, the per-site detail in `sim`
            summary["variant_share"] = observe.by_function(summary["variant_share"])
        summary["wall_s"] = round(wall, 3)
        summary["cpu"] = {"samples": [[t, sample] for t, sample in run.cpu_samples]}
        summary["sim"] = {
            "events": sum(one.events for one in runs), "decisions": sum(one.decisions for one in runs),
            "cpu_s": round(cpu, 3),
            "requests_per_wall_s": round(len(records) / wall, 1) if wall > 0 else None,
            # what a machine with a core to spare gives: other work on it slows the wall figure
            "requests_per_cpu_s": round(len(records) / cpu, 1) if cpu > 0 else None,
            "herding": observe.herding(run.dispatch, run.bin_s),
            "queues": observe.queues(run.queue) if not many else {"worst_p95": observe.queues(run.queue)["worst_p95"]},
            "replica_disagreement": observe.replica_disagreement(run.selector_dispatch),
            "prediction": observe.prediction([x for one in runs for x in one.ratios]),
            "share_series": observe.share_series(run.dispatch, group=many),
            "queue_series": _queue_series(run.queue, many),
            "notes": run.notes}
        return summary

    def _topology_view(self) -> dict:
        variants = {}
        node_cpus: dict[str, int] = {}
        for d in self.topology.deployments:
            if d.task != self.scenario.task or not d.nodes:
                continue
            nodes = sorted(set(d.nodes))
            node = "+".join(nodes)
            node_cpus[node] = int(sum(self.topology.node(n).cpus for n in nodes))
            key = d.name if len(self.topology.gateways) == 1 else f"{d.name}@{d.gateway}"
            variants[key] = {"name": d.name, "node": node, "accuracy": float(d.annotations.get("faasml.io/accuracy", "nan")),
                             "replicas": len(d.nodes), "gateway": d.gateway,
                             "rtt_ms": self.topology.node(nodes[0]).rtt_ms}
        if len(variants) > 24:   # a generated cluster: one line per function
            grouped: dict[str, dict] = {}
            for v in variants.values():
                g = grouped.setdefault(v["name"], {"node": "(sites)", "accuracy": v["accuracy"], "replicas": 0})
                g["replicas"] += v["replicas"]
            variants = grouped
        return {"node_cpus": node_cpus, "variants": variants, "selector_nodes": [self.topology.control.pool or "-"]}

    def _idle_view(self) -> dict:
        """Per function: its service-time distribution's figures (what the idle phase measures live)."""
        idle = {}
        control = self.topology.control
        for d in self.topology.deployments:
            times = self.inputs.service.get(d.name)
            if d.task != self.scenario.task or not d.nodes or times is None or d.name in idle:
                continue
            rtt = self.topology.node(d.nodes[0]).rtt_ms
            hop = 2 * control.gateway_ms + control.selector_ms + control.client_ms + rtt
            idle[d.name] = {"latency_p10_ms": round(hop + times.quantile(0.1), 3),
                            "latency_p50_ms": round(hop + times.quantile(0.5), 3),
                            "service_p50_ms": round(times.quantile(0.5), 3),
                            "service_p10_ms": round(times.quantile(0.1), 3),
                            "cpu_ms_per_request": round(times.mean() + control.executor_http_ms, 3),
                            "quiet_latency_ms": round(hop + times.quantile(0.0), 3),
                            "samples": len(times.samples)}
        return idle

    def _bound(self, trace) -> dict | None:
        """The capacity-respecting bound on this trace (faasml/evaluation/bound.py over the
        simulated system, bounds.py); an error is reported, not fatal."""
        from faasml.simulation import bounds

        try:
            return bounds.trace_bounds(self.topology, self.scenario.task, self.inputs.service,
                                       self.scenario.classes, trace, self.correct)
        except Exception as exc:   # noqa: BLE001 - a bound that cannot be solved is reported, not fatal
            return {"error": f"{type(exc).__name__}: {exc}"}


def _queue_series(queue: dict[str, list[float]], group: bool) -> dict[str, list[float]]:
    if not group:
        return {k: [round(x, 2) for x in v] for k, v in queue.items()}
    out: dict[str, list[float]] = {}
    for key, values in queue.items():
        name = key.split("@", 1)[0]
        row = out.setdefault(name, [0.0] * len(values))
        for i, x in enumerate(values[:len(row)]):
            row[i] += x
    return {k: [round(x, 2) for x in v] for k, v in out.items()}


def _fingerprint(trace) -> str:
    from faasml.evaluation.runner import fingerprint

    return fingerprint(trace)


# ---------------------------------------------------------------- the whole run
def default_scenarios() -> list[str]:
    return ["mix", "edge-cloud", "shifting", "text"]


def resolve(names: Sequence[str]) -> list[Scenario]:
    """Names in scenarios/ or scenarios/simulation/, or paths."""
    found = []
    for name in names or default_scenarios():
        path = Path(name)
        if not path.is_file() and (SIM_DIR / f"{name}.yml").is_file():
            path = SIM_DIR / f"{name}.yml"
        found.extend(resolve_scenarios([str(path) if path.is_file() else name]))
    return found


def default_out() -> Path:
    return REPO / "reports" / time.strftime("simulation-%Y%m%d-%H%M%S")


def run_simulation(settings: SimSettings, argv: Sequence[str] | None = None, stream=None) -> dict:
    from faasml.evaluation.runner import _clean, git_revision, machine_info

    scenarios = resolve(settings.scenarios)
    for label in settings.policies:   # a bad NAME@FAASML_VAR=VALUE ends the run before it starts
        policy_setting(label, selector_config())
    out = Path(settings.out or default_out()).resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = replace(settings, out=out)
    inputs = load_inputs(settings, any(s.inputs == "images" for s in scenarios))
    plans = []
    for scenario in scenarios:
        base = None
        for count in settings.selectors or [None]:
            topology = scenario_topology(scenario, settings, inputs)
            if count is not None:
                topology = topology.with_selectors(count)
            base = base or topology
            plans.append((scenario, topology))
    cells = sum(len(settings.loads or s.loads) * len(settings.policies) for s, _ in plans)
    reporter = Reporter(cells, stream=stream)
    reporter.say(f"faasml bench simulate: {len(plans)} scenario run(s), {cells} cells of {settings.duration_s:g} s "
                 f"simulated, policies {', '.join(settings.policies)}; report in {out}")
    started = time.time()
    report: dict[str, Any] = {
        "version": 1, "kind": "simulation", "command": list(argv) if argv is not None else sys.argv,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "git": git_revision(),
        "machine": machine_info(), "estimate_s": None,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "selector_settings": asdict(selector_config().engine()),
        "inputs": {"profiles": inputs.profiles_header, "overheads": inputs.overheads_header,
                   "control": asdict(inputs.control),
                   "correctness": dict(inputs.correctness.header) if inputs.correctness else None},
        "scenarios": []}
    shared_capacity: dict[str, dict] = {}
    try:
        for scenario, topology in plans:
            run = ScenarioRun(scenario, topology, settings, inputs, reporter, out)
            report["scenarios"].append(run.run(shared_capacity))
            _save(out, report)
    finally:
        reporter.close()
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["wall_s"] = round(time.time() - started, 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    report = _clean(report)
    from faasml.simulation.report import write_report

    report["plots"] = write_report(report, out, plots=settings.plots)
    _save(out, report)
    return report


def _save(out: Path, report: dict) -> None:
    from faasml.evaluation.runner import _clean

    (out / "report.json").write_text(json.dumps(_clean(report), indent=1, allow_nan=False) + "\n")


def check_inputs(settings: SimSettings) -> list[str]:
    """Problems with the measured inputs, worded for the user (missing files)."""
    problems = []
    for label, path in (("profiles", settings.profiles), ("correctness table", settings.correctness)):
        if not Path(path).is_file():
            problems.append(f"{label} {path} not found")
    return problems


__all__ = ["SimSettings", "run_simulation", "ScenarioError", "ProfileError", "TopologyError"]
