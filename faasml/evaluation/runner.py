"""`faasml bench evaluate`: scenarios x loads x policies on the same traces, then a report.

Per scenario: start `faasml up` with the scenario's nodes file (or use `--gateway`), wait
until the selector lists every variant, measure each variant's idle latency and service
time (pinned, sequential), measure capacity (closed loop under the default policy; or take
the one `--capacity` gives, to compare settings at the same request rates), then
for each load level generate one Poisson trace at that fraction of capacity and replay it
`--repeats` rounds, every policy once per round (`policy=`; A B C, A B C, ...), draining
the platform between runs; the policy order rotates from one round and one load level to
the next so no policy always runs first. After the platform stops, the capacity-respecting
bound is solved for every trace (faasml/evaluation/live_bound.py) and every policy is
compared with ours on the same rounds (faasml/evaluation/stats.py). Before every run the
selector's replica is replaced by a fresh one (`--keep-selector` to skip), so each policy
starts from the same selector state instead of the one the previous policy left.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import platform as pyplatform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from faasml.evaluation import metrics as metrics_mod
from faasml.evaluation.cpu import CpuSampler, tracked_processes
from faasml.evaluation.defaults import DEFAULT_DATA, DEFAULT_POLICIES, QUICK_POLICIES  # noqa: F401
from faasml.evaluation.inputs import load_inputs
from faasml.evaluation.loadgen import Record, closed_loop, idle_probe, replay
from faasml.evaluation import live_bound
from faasml.evaluation.platform import PlatformError, evaluation_platform, profiles_file
from faasml.evaluation.stats import compare_cell
from faasml.evaluation.progress import Reporter
from faasml.evaluation.records import cell_file, write_records
from faasml.evaluation.scenario import Scenario, resolve_scenarios
from faasml.evaluation.trace import Arrival, closed_loop_sequence, make_trace, trace_seed
from faasml.launch import DEFAULT_STACK, REPO
from faasml.selector.profiles import save_profiles



@dataclass
class Settings:
    scenarios: list[str] = field(default_factory=list)      # empty: every file in scenarios/
    policies: list[str] = field(default_factory=lambda: list(DEFAULT_POLICIES))
    loads: list[float] | None = None                       # None: each scenario's own
    duration_s: float = 12.0                               # trace length per cell
    max_requests: int = 5000                               # per cell
    capacity_s: float = 10.0
    capacity_warmup_s: float = 3.0
    capacity_concurrency: int = 16
    # Given instead of measured (answers/s): runs of two settings, or of two commits, then
    # offer the same request rates (a measured capacity moves with the selector itself).
    capacity_per_s: float | None = None
    idle_requests: int = 12
    images: int = 300                                      # input pool size
    data: Path = DEFAULT_DATA
    out: Path | None = None
    gateway: str | None = None
    stack: Path = DEFAULT_STACK
    seed: int = 7
    drain_s: float = 2.0
    client_timeout_s: float = 5.0
    fresh_selector: bool = True                            # a new selector replica before every run
    # The idle figures become the selector's latency profiles, as `faasml profile` would
    # make them on this machine (a platform of our own only; off: the shipped profiles).
    profile_here: bool = True
    throughput: bool = True
    throughput_round_s: float = 10.0
    throughput_rounds: int = 2
    quick: bool = False
    # Rounds per cell: every policy replays the cell's trace once per round, so each policy
    # is compared with ours on paired rounds, and the run-to-run swing shows in the interval.
    repeats: int = 5
    ours: str = "tradeoff"                                 # what every other policy is compared with


def quick_settings(**overrides) -> Settings:
    """The --quick preset: one scenario, 3 loads, 3 policies, 3 rounds of short cells
    (about 7 min on 2 cores)."""
    base = Settings(scenarios=["mix"], policies=list(QUICK_POLICIES), loads=[0.5, 1.0, 1.5],
                    duration_s=8.0, capacity_s=6.0, capacity_warmup_s=2.0, idle_requests=6, images=150,
                    drain_s=1.5, throughput=False, quick=True, repeats=3)
    return replace(base, **overrides)


# ---------------------------------------------------------------- estimate
PLATFORM_START_S = 25.0
ASSUMED_VARIANTS = 6


def measure_capacity(platform, scenario: Scenario, topology, inputs, settings: Settings,
                           default_policy: str, reporter, result: dict) -> float:
    """Closed-loop answers/s under the default policy: what "100% load" means (recorded
    in `result["capacity"]`)."""
    reporter.say(f"{scenario.name}: measuring capacity ({settings.capacity_concurrency} closed-loop clients, "
                 f"{settings.capacity_warmup_s:g}+{settings.capacity_s:g}s, default policy {default_policy})")
    sequence = closed_loop_sequence(scenario, 4000, len(inputs), trace_seed(settings.seed, scenario.name, "capacity"))
    sampler = CpuSampler(tracked_processes(topology), interval_s=0.5).start()
    capacity = _run(closed_loop(platform.url, scenario, sequence, inputs, settings.capacity_concurrency,
                                settings.capacity_warmup_s, settings.capacity_s,
                                min_timeout_s=settings.client_timeout_s))
    sampler.stop()
    result["capacity"] = asdict(capacity)
    others = [s.get("others", 0.0) for _, s in sampler.samples]
    result["capacity"]["others_cpu_cores"] = round(sum(others) / len(others), 3) if others else None
    rate_100 = capacity.throughput_per_s
    if rate_100 <= 0:
        raise PlatformError(f"{scenario.name}: capacity measured as 0 answers/s ({capacity.outcomes})")
    reporter.say(f"{scenario.name}: capacity {rate_100:.1f} answers/s ({capacity.outcomes}; others used "
                 f"{result['capacity']['others_cpu_cores'] or 0:.2f} cores meanwhile)")
    platform.drain(10, settings.drain_s)
    return rate_100


def estimate_s(settings: Settings, scenarios: Sequence[Scenario]) -> float:
    total = 0.0
    for scenario in scenarios:
        loads = settings.loads or scenario.loads
        total += 0 if settings.gateway and not scenario.nodes else PLATFORM_START_S
        total += ASSUMED_VARIANTS * (settings.idle_requests + 2) * 0.06
        if settings.capacity_per_s is None:
            total += settings.capacity_warmup_s + settings.capacity_s + settings.drain_s + 2
        total += len(loads) * 3 * 2.0  # three bounds per trace
        if scenario.inputs == "images":  # per-input correctness, in-process (cached across scenarios)
            total += settings.images * ASSUMED_VARIANTS * 0.03 / 2
        restart = 1.5 if settings.fresh_selector else 0.0
        total += len(loads) * len(settings.policies) * max(1, settings.repeats) * (
            settings.duration_s + 1.0 + settings.drain_s + 0.5 + restart)
    if settings.throughput:
        total += PLATFORM_START_S + settings.throughput_rounds * 2 * (settings.throughput_round_s + 8)
    return total + 15.0  # report and plots


# ---------------------------------------------------------------- helpers
def fingerprint(arrivals: Sequence[Arrival]) -> str:
    digest = hashlib.sha256()
    for a in arrivals:
        digest.update(f"{a.seq},{a.t_s:.6f},{a.cls},{a.input_index};".encode())
    return digest.hexdigest()[:16]


def records_fingerprint(records: Sequence[Record]) -> str:
    """The trace as the records say it was replayed (seq, time, class, input): equal to the
    trace's fingerprint when every arrival was sent and recorded."""
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r.seq},{r.t_s:.6f},{r.cls},{r.input_index};".encode())
    return digest.hexdigest()[:16]


def _run(coroutine):
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def machine_info() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory_gb = None
    return {"hostname": pyplatform.node(), "cpu_model": model, "cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)), "memory_gb": memory_gb,
            "python": pyplatform.python_version(), "kernel": pyplatform.release(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---------------------------------------------------------------- one scenario
def run_scenario(scenario: Scenario, settings: Settings, out: Path, reporter: Reporter) -> dict:
    if scenario.simulation_only:
        reporter.say(f"{scenario.name}: {', '.join(scenario.simulation_only)} only apply to `faasml bench simulate`; "
                     f"this live run ignores them")
    if scenario.nodes and settings.gateway:
        reporter.say(f"{scenario.name}: has its own nodes file, so it runs on a platform of its own "
                     f"(not on --gateway {settings.gateway})")
    external = settings.gateway if settings.gateway and not scenario.nodes else None
    platform = evaluation_platform(out / "state" / scenario.name, stack=settings.stack, nodes=scenario.nodes,
                                   url=external,
                                   password=os.environ.get("FAASML_GATEWAY_PASSWORD") or _local_password())
    loads = list(settings.loads or scenario.loads)
    result: dict = {"name": scenario.name, "description": scenario.description, "task": scenario.task,
                    "inputs": scenario.inputs, "source": str(scenario.source) if scenario.source else None,
                    "nodes_file": str(scenario.nodes or platform.nodes_file or ""),
                    "classes": [asdict(c) for c in scenario.classes],
                    "mix": [{"at": k.at, "shares": list(k.shares)} for k in scenario.mix],
                    "loads": []}
    inputs = load_inputs(scenario.inputs, settings.data, settings.images)
    result["input_pool"] = len(inputs)
    traces: dict[float, list[Arrival]] = {}
    records_of: dict[float, list[dict[str, list[Record]]]] = {}   # per load: per round: per policy
    with platform:
        reporter.say(f"{scenario.name}: starting the platform" if not external else
                     f"{scenario.name}: using the gateway at {external}")
        platform.wait_ready(scenario.task)
        topology = platform.topology()
        variants = topology.for_task(scenario.task)
        available, default_policy = platform.policies()
        unknown = [p for p in settings.policies if p not in available]
        if unknown:
            raise PlatformError(f"the selector does not know policies {unknown}; it offers {available}")
        result["topology"] = topology.to_dict()
        result["default_policy"] = default_policy
        reporter.say(f"{scenario.name}: {len(variants)} variants of {scenario.task} on nodes "
                     f"{sorted({v.node for v in variants.values()})}; measuring idle latency")
        idle = {}
        for name in sorted(variants):
            pids = [r.pid for r in topology.replicas if r.function == name]
            idle[name] = _run(idle_probe(platform.url, scenario.task, name, inputs, settings.idle_requests,
                                         cpu_reader=lambda pids=pids: _cpu_of(pids)))
        result["idle"] = idle
        reporter.say(f"{scenario.name}: idle latency p50 ms (CPU ms per request) " + ", ".join(
            f"{n} {v['latency_p50_ms']:.1f} ({v['cpu_ms_per_request']:.1f})" for n, v in idle.items()))
        result["profiles"] = "as deployed"
        if settings.profile_here and not platform.external:
            measured = idle_profiles(idle)
            save_profiles(profiles_file(platform.folder), {"measured_on": machine_info()["cpu_model"],
                                              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              "method": PROFILE_METHOD}, measured)
            platform.restart_selector(scenario.task)   # it would re-read the file within a refresh
            result["profiles"] = f"measured here: {', '.join(sorted(measured))}"
            reporter.say(f"{scenario.name}: the selector's profiles now hold these compute times")
        platform.drain(5, 0.5)

        if settings.capacity_per_s is not None:
            rate_100 = settings.capacity_per_s
            result["capacity"] = {"given": True, "throughput_per_s": rate_100}
            reporter.say(f"{scenario.name}: capacity given as {rate_100:g} answers/s (not measured)")
        else:
            rate_100 = measure_capacity(platform, scenario, topology, inputs, settings, default_policy,
                                              reporter, result)

        tracked = tracked_processes(topology)
        variant_nodes = {n: v.node for n, v in topology.variants.items()}
        service_ms = {n: work_ms(f) for n, f in idle.items()}
        rounds = max(1, settings.repeats)
        for li, load in enumerate(loads):
            rate = load * rate_100
            trace = make_trace(scenario, rate, settings.duration_s, len(inputs),
                                  trace_seed(settings.seed, scenario.name, f"{load:g}"), settings.max_requests)
            traces[load] = trace
            level = {"load": load, "rate_per_s": round(rate, 3), "trace": {
                "requests": len(trace), "fingerprint": fingerprint(trace),
                "classes": {c: sum(a.cls == c for a in trace) for c in scenario.class_names}},
                "rounds": rounds, "policies": {}, "runs": []}
            records_of[load] = []
            for repeat in range(rounds):
                shift = (li + repeat) % len(settings.policies)
                order = settings.policies[shift:] + settings.policies[:shift]
                summaries, recorded = {}, {}
                for policy in order:
                    label = f"{scenario.name} {load:.0%} ({rate:.1f}/s) {policy}" + (
                        f" round {repeat + 1}/{rounds}" if rounds > 1 else "")
                    if settings.fresh_selector and not external:
                        # every run starts from the same selector state, whatever ran before it
                        platform.restart_selector(scenario.task)
                        tracked = tracked_processes(platform.topology())
                    summary, records = _one_run(platform, scenario, trace, inputs, policy, settings, tracked,
                                                variant_nodes, topology, service_ms, reporter, label)
                    summary["records_file"] = cell_file(scenario.name, load, policy, repeat)
                    write_records(out / summary["records_file"], records)
                    summaries[policy], recorded[policy] = summary, records
                    platform.drain(15, settings.drain_s)
                level["runs"].append({p: summaries[p] for p in settings.policies})
                records_of[load].append({p: recorded[p] for p in settings.policies})
            for policy in settings.policies:
                level["policies"][policy] = pooled_summary(
                    [run[policy] for run in level["runs"]], [run[policy] for run in records_of[load]],
                    settings.duration_s, scenario.class_names, variant_nodes, topology.node_cpus, service_ms)
            result["loads"].append(level)

    # The bound and the comparisons, with the platform stopped (traces, idle figures, records).
    systems, correct = bound_inputs(scenario, result, topology, inputs, records_of, settings, out, reporter)
    for level in result["loads"]:
        trace = traces[level["load"]]
        runs = records_of[level["load"]]
        system, overhead = systems[level["load"]]
        level["bound"] = bound_for(scenario, trace, topology, system, correct)
        level["bound"]["overhead"] = overhead
        reporter.say(f"{scenario.name} {level['load']:.0%}: bound on correct-in-time "
                     f"{_fmt_rate(level['bound']['correct_in_time'])}, on effective accuracy "
                     f"{_fmt_rate(level['bound']['effective_accuracy'])} "
                     f"({level['bound']['correct_in_time']['method']}, "
                     f"{level['bound']['correct_in_time']['solve_s']:.1f}s)")
        for policy, summary in level["policies"].items():
            summary["vs_bound"] = ratios(summary, level["bound"])
        if settings.ours in settings.policies and len(settings.policies) > 1:
            level["comparisons"] = compare_cell(runs, settings.ours, scenario.class_names[0],
                                                seed=hash_seed(settings.seed, scenario.name, level["load"]))
            reporter.say(f"{scenario.name} {level['load']:.0%}: ours against "
                         + ", ".join(f"{p} {c['correct_in_time']['difference']:+.3f} "
                                     f"[{c['correct_in_time']['ci95'][0]:+.3f}, {c['correct_in_time']['ci95'][1]:+.3f}]"
                                     f" {c['correct_in_time']['verdict']}"
                                     for p, c in level["comparisons"].items()))
    return result


def _fmt_rate(bound: dict) -> str:
    rate = bound.get("rate")
    return "–" if rate is None else f"{rate:.3f}"


def hash_seed(seed: int, scenario: str, load: float) -> int:
    """A stable bootstrap seed per cell (not Python's salted hash)."""
    return int(hashlib.sha256(f"{seed}:{scenario}:{load:g}".encode()).hexdigest()[:8], 16)


def _one_run(platform, scenario, trace, inputs, policy, settings, tracked, variant_nodes, topology, service_ms,
             reporter, label) -> tuple[dict, list[Record]]:
    reporter.cell_start(label, len(trace))
    sampler = CpuSampler(tracked, interval_s=0.5).start()
    records, wall = _run(replay(platform.url, scenario, trace, inputs, policy,
                                min_timeout_s=settings.client_timeout_s, on_event=reporter.cell_event))
    totals = sampler.stop()
    summary = metrics_mod.summarise(records, settings.duration_s, scenario.class_names, variant_nodes,
                                    topology.node_cpus, service_ms, sampler.samples)
    summary["wall_s"] = round(wall, 2)
    summary["replayed_fingerprint"] = records_fingerprint(records)
    summary["cpu"] = {"totals_s": totals, "samples": [[t, s] for t, s in sampler.samples]}
    first = scenario.class_names[0]
    reporter.cell_done(
        f"{label}: correct-in-time {summary['correct_in_time_rate']:.3f}, utility "
        f"{summary['mean_utility']:.3f}, {first} in deadline "
        f"{summary['classes'][first]['deadline_attainment']:.2f}, statuses "
        + " ".join(f"{k}:{v}" for k, v in summary["status"].items() if v)
        + f", sender late p99 {summary['generator_lateness_ms']['p99']:.1f} ms"
        + (f", others used {summary['others_cpu_cores']:.2f} cores"
           if summary.get("others_cpu_cores") is not None else ""))
    return summary, records


def pooled_summary(runs: list[dict], records: list[list[Record]], duration_s: float, classes, variant_nodes,
                   node_cpus, service_ms) -> dict:
    """One policy's rounds of a cell as one summary: every metric over all its rounds'
    requests (equal rounds: a rate is the mean of the rounds' rates), with the spread of
    the rounds' correct-in-time rates beside it."""
    samples = [(t, s) for run in runs for t, s in run["cpu"]["samples"]]
    pooled = metrics_mod.summarise([r for rs in records for r in rs], duration_s * len(runs), classes,
                                   variant_nodes, node_cpus, service_ms, samples)
    pooled["rounds"] = len(runs)
    pooled["records_files"] = [run["records_file"] for run in runs]
    pooled["round_correct_in_time"] = [run["correct_in_time_rate"] for run in runs]
    pooled["wall_s"] = round(sum(run["wall_s"] for run in runs), 2)
    return pooled


def _cpu_of(pids: list[int]) -> float | None:
    from faasml.evaluation.cpu import cpu_seconds

    values = [cpu_seconds(pid) for pid in pids]
    return None if not values or any(v is None for v in values) else sum(values)


PROFILE_METHOD = ("faasml bench evaluate's idle phase: sequential requests pinned to each variant "
                  "through the selector; compute_ms = p50 of X-Faasml-Compute-Ms")


def idle_profiles(idle: dict) -> dict:
    """The idle figures as latency profiles (faasml/selector/profiles.py), for the variants
    whose compute time was measured: a selector predicts from its profiles until it sees a
    variant answer, and shipped profiles come from another machine, where int8 and fp32
    variants need not keep the same ratio (docs/evaluation.md)."""
    return {name: {"compute_ms": round(figures["service_p50_ms"], 3),
                   "latency_ms": {"p50": round(figures["latency_p50_ms"], 3)},
                   # the distribution `faasml bench simulate --validate` draws from
                   "compute_ms_samples": figures.get("compute_ms_samples") or []}
            for name, figures in idle.items()
            if figures.get("service_p50_ms") is not None and math.isfinite(figures["service_p50_ms"])}


def work_ms(figures: dict) -> float:
    """A variant's work per request on its node: CPU time of its replicas per request when
    measured, else the executor's compute time (wall time, inflated by a busy machine)."""
    cpu = figures.get("cpu_ms_per_request")
    if cpu is not None and not math.isnan(cpu) and cpu > 0:
        return cpu
    return figures.get("service_p50_ms", math.nan)


def _local_password() -> str | None:
    path = REPO / ".faasml" / "basic-auth-password"
    return path.read_text().strip() if path.is_file() else None


def bound_inputs(scenario: Scenario, result: dict, topology, inputs, records_of: dict, settings: Settings,
                 out: Path, reporter):
    """What every trace's bound shares: per-input correctness of each variant (images) and
    the platform as a bound.System from the idle figures and every run's CPU and records."""
    variants = topology.for_task(scenario.task)
    runs: dict[float, list[dict]] = {}
    for load, rounds in records_of.items():
        level = next(lv for lv in result["loads"] if lv["load"] == load)
        for i, by_policy in enumerate(rounds):
            for policy, records in by_policy.items():
                summary = level["runs"][i][policy]
                cpu = summary.get("cpu") or {}
                runs.setdefault(load, []).append(live_bound.run_figures(
                    f"{load:.0%} {policy} round {i + 1}", records, cpu.get("totals_s") or {}, list(variants),
                    cpu.get("samples") or (), summary.get("wall_s")))
    everything = [run for cell in runs.values() for run in cell]
    system, figures = live_bound.live_system(variants, topology.replicas, topology.node_cpus, result["idle"],
                                             everything)
    correct = None
    if scenario.inputs == "images":
        cards = live_bound.variant_cards(settings.stack, sorted(variants))
        table = live_bound.correctness_table(cards, inputs, out / "state" / "correctness", reporter.say)
        seen = live_bound.observed_correct([r for rounds in records_of.values() for by in rounds
                                            for r in by.values()], len(inputs), sorted(variants))
        correct = {}
        disagree = 0
        for name in sorted(variants):
            base = table.get(name, np.ones(len(inputs), dtype=bool))   # not evaluated: may be right
            disagree += int((seen[name] & ~base).sum())
            correct[name] = base | seen[name]
        figures["correctness"] = {
            "method": "each variant's top-1 on every input of the pool, the executor's classify in-process, "
                      "or'd with every right answer the runs saw",
            "right_share": {n: round(float(v.mean()), 4) for n, v in correct.items()},
            "runs_right_where_table_wrong": disagree}
    result["bound_model"] = figures
    reporter.say(f"{scenario.name}: bound model: {figures['machine_cpus']} CPUs; work ms " + ", ".join(
                     f"{n} {v['work_ms']:.1f}" for n, v in figures["variants"].items()))
    return {load: live_bound.for_cell(system, cell) for load, cell in runs.items()}, correct


def bound_for(scenario: Scenario, trace: Sequence[Arrival], topology, system, correct) -> dict:
    """The capacity-respecting bound on this trace (faasml/evaluation/live_bound.py):
    correct in time (per-input values), effective accuracy (declared) and in time."""
    variants = topology.for_task(scenario.task)
    accuracy = {n: v.accuracy for n, v in variants.items()}
    bounds = live_bound.live_bounds(scenario, trace, system, accuracy, correct)
    return {name: b.to_dict() for name, b in bounds.items()}


def ratios(summary: dict, bound: dict) -> dict:
    def ratio(value: float, limit: float | None) -> float | None:
        if limit is None or not limit or value is None or math.isnan(value):
            return None
        return round(value / limit, 4)
    return {"effective_accuracy": ratio(summary["effective_accuracy"], bound["effective_accuracy"]["rate"]),
            "correct_in_time": ratio(summary["correct_in_time_rate"], bound["correct_in_time"]["rate"]),
            "in_time": ratio(summary["in_time_rate"], bound["in_time"]["rate"])}


# ---------------------------------------------------------------- the whole run
def default_out() -> Path:
    return REPO / "reports" / time.strftime("evaluation-%Y%m%d-%H%M%S")


def run_evaluation(settings: Settings, argv: Sequence[str] | None = None, stream=None) -> dict:
    from faasml.evaluation.report import write_report

    scenarios = resolve_scenarios(settings.scenarios)
    if any(s.inputs == "images" for s in scenarios) and not Path(settings.data).is_dir():
        raise FileNotFoundError(f"labelled image folder {settings.data} not found: pass --data DIR "
                                f"(files <wnid>_<label>.JPEG, e.g. ../shared/data/imagenet-sample)")
    out = Path(settings.out or default_out()).resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = replace(settings, out=out)
    cells = sum(len(settings.loads or s.loads) * len(settings.policies) for s in scenarios) * max(1, settings.repeats)
    reporter = Reporter(cells, stream=stream)
    estimate = estimate_s(settings, scenarios)
    reporter.say(f"faasml bench evaluate: {len(scenarios)} scenario(s) ({', '.join(s.name for s in scenarios)}), "
                 f"{cells} runs of {settings.duration_s:g}s ({max(1, settings.repeats)} round(s) per cell), policies {', '.join(settings.policies)}; "
                 f"estimated {estimate / 60:.1f} min; report in {out}")
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        reporter.say(f"note: load average {load:.1f} on {os.cpu_count()} CPUs before starting: other work on "
                     f"this machine will show in the figures (see `others' CPU` in the report)")
    started = time.time()
    try:  # SIGTERM runs the `finally`s too, so every platform started is stopped
        previous_term = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        previous_term = None
    report: dict = {"version": 1, "command": list(argv) if argv is not None else sys.argv,
                    "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "git": git_revision(), "machine": machine_info(), "estimate_s": round(estimate),
                    "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
                    "scenarios": [], "throughput": None}
    try:
        for scenario in scenarios:
            report["scenarios"].append(run_scenario(scenario, settings, out, reporter))
            _save(out, report)
        if settings.throughput:
            from faasml.evaluation.throughput import ThroughputSettings, run_throughput

            reporter.say("throughput efficiency: full path vs in-process")
            report["throughput"] = run_throughput(
                ThroughputSettings(data=Path(settings.data), round_s=settings.throughput_round_s,
                                   rounds=settings.throughput_rounds), out / "state", reporter.say)
            reporter.say(f"throughput efficiency {report['throughput']['efficiency']:.3f} "
                         f"(full path {report['throughput']['full_path_per_s']:.1f}/s, in-process "
                         f"{report['throughput']['in_process_per_s']:.1f}/s); by CPU per answer "
                         f"{report['throughput']['cpu_efficiency']}")
    finally:
        reporter.close()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["wall_s"] = round(time.time() - started, 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = _clean(report)
    report["plots"] = write_report(report, out)
    _save(out, report)
    return report


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _clean(value):
    """NaN (an empty sample) becomes null, so report.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _save(out: Path, report: dict) -> None:
    (out / "report.json").write_text(json.dumps(_clean(report), indent=1, allow_nan=False) + "\n")
