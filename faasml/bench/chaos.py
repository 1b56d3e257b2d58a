"""`make chaos`: faults injected under load into a real `faasml up`, on loopback only.

One throw-away platform (faasml/launch.py) on free ports: the selector alone on a `control`
node, a task's variants on an `edge` and a `cloud` node (the favoured, most accurate one
with two replicas), and a `sleepy` task of two test executors for the slow experiment.
First the platform's capacity is measured (closed loop, 16 clients); the base load is
`--rate` requests/s, by default half that capacity, so that what is lost is lost to the
fault and not to a machine already full. Each experiment holds the base load open-loop
through `/function/selector` for `--duration` seconds and injects one fault a quarter or
a third of the way in:

  baseline          none: what the same load gets without a fault
  kill-replica      SIGKILL one replica of the favoured variant
  kill-variant      SIGKILL every replica of it, twice (the restarted ones again)
  kill-node         SIGKILL every process on the cloud node (one variant left, on edge)
  hang              SIGSTOP the favoured variant's replicas for --hang seconds, then SIGCONT;
                    half the load goes through a second selector with stall bounds off
                    (FAASML_STALL_FACTOR=0), the baseline side by side in the same run
  hang-two          SIGSTOP both variants `tradeoff=1` favours (its two most accurate, every
                    replica) for --hang seconds under --hang-two-rate requests/s (20: the
                    issue's figure): requests must move on, p99 under 1 s, none unanswered
  slow              one sleepy executor takes --slow-ms longer per request for half the run
  restart-selector  SIGKILL the selector itself (the runtime restarts it)
  overload          --overload x the measured capacity, then the base rate again for a
                    while: does it recover by itself?

The load is the evaluation's generator (faasml/evaluation/loadgen.py): open loop, each
request timed from its scheduled moment. Per experiment it prints what was sent, answered OK, answered with an explicit (JSON)
error, answered otherwise, left unanswered (the client's timeout or a dropped
connection: must be 0), latency of the admitted requests, what the registry showed
(lowest available replicas of the faulted functions, restarts), and the peak resident
memory of every process (runtime, selector, each executor), sampled from /proc.

Only processes this run started are signalled, by the pids the runtime reports.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from faasml.bench.executor import sample_photo
from faasml.evaluation.inputs import Input
from faasml.evaluation.loadgen import Record, closed_loop, replay
from faasml.evaluation.scenario import ClientClass, Scenario
from faasml.evaluation.trace import Arrival
from faasml.launch import LocalPlatform, executor_function, find_checkout, selector_function
from faasml.stats import percentile

IMAGE_TASK = "image-classification"
ECHO_TASK = "chaos-echo"
SLEEPY_TASK = "sleepy"
NO_STALL_SELECTOR = "selector-stalls-off"   # the hang experiment's side-by-side baseline
EXPERIMENTS = ("baseline", "kill-replica", "kill-variant", "kill-node", "hang", "hang-two", "slow",
               "restart-selector", "overload")
HANG_TWO_GOAL_P99_MS = 1000.0   # both favoured variants hung: every request moves on within this

# A test executor: sleeps its service time (plus whatever the control file says, to turn
# it slow on demand) and reports the time as compute, as the real executors do.
SLEEPY_HANDLER = '''import os
import time

SERVICE_S = float(os.environ.get("CHAOS_SERVICE_MS", "5")) / 1000.0
CONTROL = os.environ.get("CHAOS_CONTROL_FILE", "")


def _extra_s():
    try:
        with open(CONTROL) as handle:
            return float(handle.read().strip() or 0) / 1000.0
    except (OSError, ValueError):
        return 0.0


def handle(event, context):
    if event.path.rstrip("/") == "/ready":
        return {"statusCode": 200, "body": {"ready": True}}
    started = time.perf_counter()
    time.sleep(SERVICE_S + (_extra_s() if CONTROL else 0.0))
    compute_ms = (time.perf_counter() - started) * 1000.0
    return {"statusCode": 200, "body": {"ok": True, "bytes": len(event.body or b"")},
            "headers": {"Content-Type": "application/json", "X-Faasml-Compute-Ms": f"{compute_ms:.3f}"}}
'''


@dataclass
class ChaosSettings:
    duration_s: float = 20.0        # load held per experiment
    rate: float | None = None       # requests/s of the base load; None: half the capacity
    capacity_rps: float = 0.0       # measured before the experiments
    hang_s: float = 10.0            # how long the hung variant stays stopped
    hang_two_rate: float = 20.0     # requests/s while both favoured variants hang (hang-two)
    slow_ms: float = 2000.0         # added to each request of the slowed executor
    overload: float = 3.0           # the burst, as a multiple of the measured capacity
    client_timeout_s: float = 30.0  # beyond the selector's 25 s deadline: silence, not slowness
    models: bool = True             # the reference image variants; False: sleepy executors only
    experiments: tuple[str, ...] = EXPERIMENTS
    tradeoff: float = 1.0


@dataclass
class ExperimentResult:
    name: str
    task: str
    rate: float
    duration_s: float
    fault: str
    sent: int = 0
    ok: int = 0
    explicit_errors: int = 0
    other_answers: int = 0
    unanswered: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    answered_by: dict[str, int] = field(default_factory=dict)   # variant -> OK answers
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    p99_all_ms: float | None = None
    client_late_p99_ms: float | None = None   # the load generator's own lag in sending
    success_pct: float = 0.0
    registry: dict[str, Any] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float | None:
    """The benchmarks' percentile (q in [0, 1] here); None when nothing was answered."""
    return percentile(values, q * 100.0) if values else None


def _what_happened(record: Record) -> str:
    """`503 no_healthy_variant`, `200`, `client-timeout`: the status and the error's code,
    or what the client saw instead of an answer."""
    if record.status == 0:
        return record.outcome
    return " ".join(filter(None, (str(record.status), record.error_code)))


def summarize(result: ExperimentResult, records: Sequence[Record]) -> ExperimentResult:
    """An error answer is explicit when its body is faasml's JSON error (a `code`)."""
    ok = [r for r in records if 200 <= r.status < 300]
    result.sent = len(records)
    result.ok = len(ok)
    result.explicit_errors = sum(1 for r in records if r.status >= 300 and r.error_code is not None)
    result.other_answers = sum(1 for r in records if r.status >= 300 and r.error_code is None)
    result.unanswered = sum(1 for r in records if r.status == 0)
    result.statuses = dict(sorted(Counter(map(_what_happened, records)).items()))
    result.answered_by = dict(Counter(r.variant for r in ok if r.variant).most_common())
    admitted = [r.latency_ms for r in ok]
    answered = [r.latency_ms for r in records if r.status]
    result.p50_ms, result.p99_ms = _percentile(admitted, 0.5), _percentile(admitted, 0.99)
    result.max_ms = max(admitted) if admitted else None
    result.p99_all_ms = _percentile(answered, 0.99)
    result.client_late_p99_ms = _percentile([r.lateness_ms for r in records], 0.99)
    result.success_pct = 100.0 * result.ok / result.sent if result.sent else 0.0
    return result


# --- load -----------------------------------------------------------------------------

CLASS = "chaos"


@dataclass(frozen=True)
class Load:
    """What an experiment's clients send: one class of request for `task` (its trade-off,
    and a deadline as long as the client waits), always the same body."""

    task: str
    tradeoff: float
    body: Input
    timeout_s: float

    def scenario(self) -> Scenario:
        return Scenario(name=f"chaos-{self.task}", task=self.task, inputs="chaos",
                        classes=(ClientClass(CLASS, 1.0, self.tradeoff, self.timeout_s * 1000.0),))


def steady(rate: float, duration_s: float) -> list[Arrival]:
    """`rate`/s evenly spaced for `duration_s`: the faults, not the arrivals, vary."""
    return [Arrival(i, i / rate, CLASS, 0) for i in range(int(rate * duration_s))]


async def open_loop(gateway: str, load: Load, rate: float, duration_s: float,
                    path: str = "/function/selector") -> list[Record]:
    """Send at `rate`/s for `duration_s` whatever the answers (the evaluation's load
    generator: latency from the scheduled moment, so a slow platform is never hidden by
    a client that waits)."""
    records, _ = await replay(gateway, load.scenario(), steady(rate, duration_s), [load.body], None,
                              min_timeout_s=load.timeout_s, path=path)
    return records


def measure_capacity(platform: Platform, settings: ChaosSettings, duration_s: float = 5.0) -> float:
    """Answers/s of the favoured task with 16 clients each sending as soon as answered."""
    load = platform.load(platform.task, settings)
    result = asyncio.run(closed_loop(platform.stage.url, load.scenario(), steady(1.0, 1.0), [load.body], 16,
                                     warmup_s=0.0, measure_s=duration_s, min_timeout_s=load.timeout_s))
    return result.throughput_per_s


# --- watching the platform -------------------------------------------------------------

def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Watch:
    """Samples, while an experiment runs, every process's resident memory and the
    registry's view of the functions (available replicas, restarts)."""

    def __init__(self, stage: LocalPlatform, every_s: float = 0.25):
        self.stage, self.every_s = stage, every_s
        self.peak: dict[str, int] = {}
        self.min_available: dict[str, int] = {}
        self.restarts_start: dict[str, int] = {}
        self.restarts_end: dict[str, int] = {}
        self.listing_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Watch":
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _note_rss(self, name: str, pid: int | None) -> None:
        rss = rss_bytes(pid) if pid else None
        if rss is not None:
            self.peak[name] = max(self.peak.get(name, 0), rss)

    def _sample(self, first: bool = False) -> None:
        if self.stage.gateway_pid is not None:
            self._note_rss("runtime (faasml up)", self.stage.gateway_pid)
        try:
            functions = self.stage.functions()
        except (OSError, ValueError):
            self.listing_failures += 1
            return
        for status in functions:
            name = status["name"]
            local = status.get("faasml") or {}
            for replica in local.get("replicaStates", []):
                self._note_rss(name, replica.get("pid"))
            available = int(status.get("availableReplicas", 0))
            self.min_available[name] = min(self.min_available.get(name, available), available)
            restarts = int(local.get("restarts", 0))
            if first:
                self.restarts_start[name] = restarts
            self.restarts_end[name] = restarts

    def registry(self, names: list[str]) -> dict[str, Any]:
        return {name: {"min_available_replicas": self.min_available.get(name),
                       "restarts": self.restarts_end.get(name, 0) - self.restarts_start.get(name, 0)}
                for name in names}

    def peak_mib(self) -> dict[str, float]:
        return {name: round(value / (1 << 20), 1) for name, value in sorted(self.peak.items())}


# --- the platform -------------------------------------------------------------------

def image_variants(models: Path) -> list[tuple[str, str, float, int]]:
    """(variant, node, latency-ms annotation, replicas): fast on edge; on cloud a middle
    one and the most accurate (favoured at tradeoff=1) with two replicas."""
    larger = [n for n in ("efficientnet-lite1-int8", "efficientnet-lite1-fp32", "efficientnet-lite2-int8",
                          "efficientnet-lite2-fp32") if (models / f"{n}.card.json").exists()]
    best = max(larger, key=lambda name: card_accuracy(models, name))
    return [("efficientnet-lite0-int8", "edge", 12.0, 1), ("efficientnet-lite0-fp32", "cloud", 15.0, 1),
            (best, "cloud", 45.0, 2)]


def card_accuracy(models: Path, name: str) -> float:
    return float(json.loads((models / f"{name}.card.json").read_text())["accuracy"]["value"])


def three_nodes() -> list[dict[str, Any]]:
    return [{"name": "edge", "labels": {"faasml.io/node-class": "edge"}, "cpus": "0", "rtt_ms": 0},
            {"name": "cloud", "labels": {"faasml.io/node-class": "cloud"}, "cpus": "1-", "rtt_ms": 0},
            {"name": "control", "labels": {"faasml.io/node-class": "control"}, "cpus": "all", "rtt_ms": 0}]


def sleepy_function(name: str, folder: Path, task: str, node: str, accuracy: float, service_ms: float,
                    control: Path | None = None, replicas: int = 1) -> dict[str, Any]:
    spec = executor_function(name, folder / "none.card.json", task, node, accuracy, service_ms,
                             handler=folder / "sleepy")
    spec["environment"] = {"CHAOS_SERVICE_MS": str(service_ms), "ready_path": "/ready",
                           "FAASML_SERVER_THREADS": "1", "exec_timeout": "30s", "max_inflight": "32"}
    if control is not None:
        spec["environment"]["CHAOS_CONTROL_FILE"] = str(control)
    spec["labels"]["com.openfaas.scale.min"] = str(replicas)
    return spec


@dataclass
class Platform:
    stage: LocalPlatform
    task: str                  # the task the faults hit
    favoured: str              # its most accurate variant (two replicas)
    fallback_node_variant: str  # the one on edge, left when the cloud node dies
    body: Input
    slow_control: Path

    def load(self, task: str, settings: ChaosSettings, tradeoff: float | None = None) -> Load:
        body = self.body if task == self.task else Input(b"chaos", "application/octet-stream", None, "chaos")
        return Load(task, settings.tradeoff if tradeoff is None else tradeoff, body, settings.client_timeout_s)


def build_platform(folder: Path, settings: ChaosSettings, checkout: Path, models: Path) -> Platform:
    (folder / "sleepy").mkdir()
    (folder / "sleepy" / "handler.py").write_text(SLEEPY_HANDLER)
    control = folder / "slow-ms"
    functions: dict[str, Any] = {}
    if settings.models:
        task = IMAGE_TASK
        variants = image_variants(models)
        for name, node, latency, replicas in variants:
            spec = executor_function(name, models / f"{name}.card.json", IMAGE_TASK, node,
                                     card_accuracy(models, name), latency, handler=checkout / "functions/executors")
            spec["environment"].update({"FAASML_SERVER_THREADS": "1", "exec_timeout": "30s", "max_inflight": "32"})
            spec["labels"]["com.openfaas.scale.min"] = str(replicas)
            functions[name] = spec
        favoured, edge = variants[2][0], variants[0][0]
        body = Input(sample_photo(), "image/jpeg", None, "photo")
    else:
        task = ECHO_TASK
        functions["echo-fast"] = sleepy_function("echo-fast", folder, ECHO_TASK, "edge", 0.70, 5.0)
        functions["echo-mid"] = sleepy_function("echo-mid", folder, ECHO_TASK, "cloud", 0.75, 10.0)
        functions["echo-best"] = sleepy_function("echo-best", folder, ECHO_TASK, "cloud", 0.80, 20.0, replicas=2)
        favoured, edge = "echo-best", "echo-fast"
        body = Input(b"chaos", "application/octet-stream", None, "chaos")
    functions["sleepy-a"] = sleepy_function("sleepy-a", folder, SLEEPY_TASK, "cloud", 0.8, 5.0, control)
    functions["sleepy-b"] = sleepy_function("sleepy-b", folder, SLEEPY_TASK, "edge", 0.7, 5.0)
    # As in stack.yml: the queues in front of the selector and each executor are bounded.
    selector = selector_function({"max_inflight": "256"},
                                 checkout / "functions/selector")
    selector["annotations"] = {"faasml.io/node-class": "control"}
    selector["labels"]["com.openfaas.scale.min"] = "1"
    functions["selector"] = selector
    if "hang" in settings.experiments:
        functions[NO_STALL_SELECTOR] = {**selector, "environment": {**selector["environment"],
                                                                    "FAASML_STALL_FACTOR": "0"}}
    stage = LocalPlatform.generated(folder, functions, three_nodes(), cwd=checkout)
    return Platform(stage, task, favoured, edge, body, control)


# --- faults -------------------------------------------------------------------------

def replica_pids(stage: LocalPlatform, name: str | None = None, node: str | None = None) -> list[int]:
    """The live replicas' pids (of function `name`, on `node`), as the runtime reports them."""
    return stage.topology().pids(function=name, node=node)


def signal_group(pid: int, sig: int) -> None:
    """Signal a replica's process group (the runtime starts each in its own session)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def wait_recovered(stage: LocalPlatform, timeout_s: float = 90.0) -> float:
    """Until every function has all its replicas ready again and the selector lists them;
    seconds it took."""
    return stage.wait_ready(timeout_s=timeout_s)


def at(delay_s: float, action: Callable[[], None]) -> threading.Timer:
    """A fault `delay_s` after the load starts (started by run_experiment, with the load)."""
    timer = threading.Timer(delay_s, action)
    timer.daemon = True
    return timer


def run_experiment(platform: Platform, name: str, settings: ChaosSettings) -> list[ExperimentResult]:
    """The experiment's result; for `hang`, also the same requests through a selector with
    stall bounds off, side by side in the same run (the baseline the bound is judged by)."""
    stage, duration = platform.stage, settings.duration_s
    task, rate, watched = platform.task, settings.rate, [platform.favoured]
    load, baseline_path = platform.load(task, settings), None
    notes: list[str] = []
    timers: list[threading.Timer] = []

    def kill(pids_of: Callable[[], list[int]], label: str) -> Callable[[], None]:
        def action() -> None:
            pids = pids_of()
            for pid in pids:
                signal_group(pid, signal.SIGKILL)
            notes.append(f"{label}: SIGKILL {len(pids)} process(es) at {time.monotonic() - started:.1f}s")
        return action

    if name == "baseline":
        fault = "none"
    elif name == "kill-replica":
        fault = f"SIGKILL one replica of {platform.favoured} at {duration / 3:.0f}s"
        timers.append(at(duration / 3, kill(lambda: replica_pids(stage, platform.favoured)[:1], "one replica")))
    elif name == "kill-variant":
        fault = f"SIGKILL every replica of {platform.favoured} at {duration / 3:.0f}s and {2 * duration / 3:.0f}s"
        timers.append(at(duration / 3, kill(lambda: replica_pids(stage, platform.favoured), "the variant")))
        timers.append(at(2 * duration / 3, kill(lambda: replica_pids(stage, platform.favoured), "the variant again")))
    elif name == "kill-node":
        cloud = [f["name"] for f in stage.functions() if f["name"] != "selector"
                 and "cloud" in (f.get("faasml") or {}).get("nodes", [])]
        watched = cloud
        fault = f"SIGKILL every process on node cloud ({', '.join(cloud)}) at {duration / 3:.0f}s"
        timers.append(at(duration / 3, kill(lambda: replica_pids(stage, node="cloud"), "node cloud")))
    elif name == "hang":
        hang_at = max(1.0, (duration - settings.hang_s) / 3)
        fault = f"SIGSTOP every replica of {platform.favoured} at {hang_at:.0f}s for {settings.hang_s:g}s"
        timers += hang_for(stage, [platform.favoured], hang_at, settings.hang_s, notes)
        # Half the load through each selector: the total is the other experiments'.
        baseline_path, rate = f"/function/{NO_STALL_SELECTOR}", rate / 2
    elif name == "hang-two":
        hung = favoured_variants(stage, task, 2)
        watched, rate = hung, settings.hang_two_rate
        load = platform.load(task, settings, tradeoff=1.0)
        hang_at = max(1.0, (duration - settings.hang_s) / 3)
        fault = (f"SIGSTOP every replica of {' and '.join(hung)} (the two tradeoff=1 favours) at "
                 f"{hang_at:.0f}s for {settings.hang_s:g}s; goal p99 < {HANG_TWO_GOAL_P99_MS:g} ms")
        timers += hang_for(stage, hung, hang_at, settings.hang_s, notes)
    elif name == "slow":
        task, watched = SLEEPY_TASK, ["sleepy-a", "sleepy-b"]
        load = platform.load(SLEEPY_TASK, settings, tradeoff=1.0)
        fault = f"sleepy-a takes {settings.slow_ms:g} ms more per request from {duration / 4:.0f}s to {3 * duration / 4:.0f}s"
        timers += [at(duration / 4, lambda: platform.slow_control.write_text(f"{settings.slow_ms:g}")),
                   at(3 * duration / 4, lambda: platform.slow_control.write_text("0"))]
    elif name == "restart-selector":
        watched = ["selector"]
        fault = f"SIGKILL the selector at {duration / 3:.0f}s (the runtime restarts it)"
        timers.append(at(duration / 3, kill(lambda: replica_pids(stage, "selector"), "the selector")))
    elif name == "overload":
        return [run_overload(platform, settings, load)]
    else:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")

    results = [ExperimentResult(name, task, rate, duration, fault)]
    loads = [open_loop(stage.url, load, rate, duration)]
    if baseline_path is not None:
        results.append(ExperimentResult(f"{name} (stall bounds off)", task, rate, duration,
                                        fault + f"; the same through {NO_STALL_SELECTOR} (FAASML_STALL_FACTOR=0)"))
        loads.append(open_loop(stage.url, load, rate, duration, path=baseline_path))

    async def all_loads() -> list[list[Record]]:
        return list(await asyncio.gather(*loads))

    with Watch(stage) as watch:
        started = time.monotonic()
        for timer in timers:
            timer.start()
        records = asyncio.run(all_loads())
        for timer in timers:
            timer.join()   # every fault undone (SIGCONT) before anything else runs
    for result, its_records in zip(results, records):
        summarize(result, its_records)
        result.registry = watch.registry(watched)
        result.peak_rss_mib = watch.peak_mib()
        result.notes = list(notes)
        if name == "hang-two":
            result.notes += hang_two_findings(result, its_records)
    return results


def hang_for(stage: LocalPlatform, functions: list[str], at_s: float, hang_s: float,
             notes: list[str]) -> list[threading.Timer]:
    """Timers that SIGSTOP every replica of `functions` at `at_s` and SIGCONT them
    `hang_s` later (the same processes, even if the runtime lists others meanwhile)."""
    stopped: list[int] = []

    def stop() -> None:
        stopped.extend(pid for function in functions for pid in replica_pids(stage, function))
        for pid in stopped:
            signal_group(pid, signal.SIGSTOP)
        notes.append(f"SIGSTOP {len(stopped)} process(es) of {', '.join(functions)}")

    def resume() -> None:
        for pid in stopped:
            signal_group(pid, signal.SIGCONT)
        notes.append(f"SIGCONT {len(stopped)} process(es)")
    return [at(at_s, stop), at(at_s + hang_s, resume)]


def favoured_variants(stage: LocalPlatform, task: str, count: int) -> list[str]:
    """The `count` most accurate executors of `task` (what `tradeoff=1` ranks first), by
    their faasml.io/accuracy annotation."""
    executors = [(float(f.get("annotations", {}).get("faasml.io/accuracy", 0)), f["name"]) for f in stage.functions()
                 if f.get("annotations", {}).get("faasml.io/task") == task]
    return [name for _, name in sorted(executors, reverse=True)[:count]]


def hang_two_findings(result: ExperimentResult, records: Sequence[Record]) -> list[str]:
    """The goal's verdict, and where the slowest requests' time went (attempts each)."""
    met = result.unanswered == 0 and result.p99_all_ms is not None and result.p99_all_ms < HANG_TWO_GOAL_P99_MS
    slowest = sorted((r for r in records if r.status), key=lambda r: -r.latency_ms)[:5]
    return [f"goal: p99 of every answer {fmt_ms(result.p99_all_ms)} < {HANG_TWO_GOAL_P99_MS:g} ms and none "
            f"unanswered: {'met' if met else 'NOT met'}",
            "slowest: " + ", ".join(f"{fmt_ms(r.latency_ms)} ({r.status} by {r.variant or '-'}, sent at {r.t_s:.1f}s)"
                                    for r in slowest)]


def run_overload(platform: Platform, settings: ChaosSettings, load: Load) -> ExperimentResult:
    """`overload` x the measured capacity, open loop; then the base rate again, which
    must be served as before the burst (recovery without intervention)."""
    stage, capacity = platform.stage, settings.capacity_rps
    burst_rate = max(1.0, settings.overload * capacity)
    result = ExperimentResult("overload", platform.task, round(burst_rate, 1), settings.duration_s,
                              f"{settings.overload:g}x the measured capacity of {capacity:.1f} req/s")
    with Watch(stage) as watch:
        summarize(result, asyncio.run(open_loop(stage.url, load, burst_rate, settings.duration_s)))
        recovery = ExperimentResult("after-overload", platform.task, settings.rate,
                                    max(5.0, settings.duration_s / 2), "none: the base rate right after the burst")
        summarize(recovery, asyncio.run(open_loop(stage.url, load, settings.rate, recovery.duration_s)))
    result.peak_rss_mib = recovery.peak_rss_mib = watch.peak_mib()
    result.notes = [f"after the burst, {recovery.rate:g} req/s for {recovery.duration_s:g}s: "
                    f"{recovery.ok}/{recovery.sent} OK, p99 {fmt_ms(recovery.p99_ms)}"]
    result.registry = {"recovery": asdict(recovery)}
    return result


# --- report -------------------------------------------------------------------------

def fmt_ms(value: float | None) -> str:
    return "-" if value is None else (f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms")


def print_result(result: ExperimentResult) -> None:
    print(f"\n== {result.name}: {result.fault}; {result.rate:g} req/s of {result.task} for {result.duration_s:g}s")
    print(f"   sent {result.sent}  ok {result.ok} ({result.success_pct:.1f}%)  explicit error {result.explicit_errors}"
          f"  other answer {result.other_answers}  unanswered {result.unanswered}")
    print(f"   admitted latency p50 {fmt_ms(result.p50_ms)}  p99 {fmt_ms(result.p99_ms)}  max {fmt_ms(result.max_ms)}"
          f"   (p99 of every answer {fmt_ms(result.p99_all_ms)})   statuses {result.statuses}")
    print(f"   answered by {result.answered_by}; the client's own send lag p99 {fmt_ms(result.client_late_p99_ms)}")
    if result.registry and "recovery" not in result.registry:
        print("   registry: " + "; ".join(f"{n} lowest available {r['min_available_replicas']}, restarts {r['restarts']}"
                                          for n, r in result.registry.items()))
    print("   peak RSS MiB: " + ", ".join(f"{n} {v:g}" for n, v in result.peak_rss_mib.items()))
    for note in result.notes:
        print(f"   {note}")


def run_chaos(settings: ChaosSettings, checkout: Path, models: Path) -> list[ExperimentResult]:
    """Start the platform, run the experiments in turn (each once the platform has
    recovered from the last), print each result as it comes; the results."""
    results: list[ExperimentResult] = []
    with tempfile.TemporaryDirectory(prefix="faasml-chaos-") as tmp:
        platform = build_platform(Path(tmp), settings, checkout, models)
        with platform.stage:
            print(f"starting faasml up on {platform.stage.url} (loopback) ...", flush=True)
            wait_recovered(platform.stage, timeout_s=180)
            if settings.rate is None or "overload" in settings.experiments:
                settings.capacity_rps = measure_capacity(platform, settings)
                print(f"capacity of {platform.task} (16 clients, closed loop): {settings.capacity_rps:.1f} req/s",
                      flush=True)
            if settings.rate is None:
                settings.rate = max(1.0, round(settings.capacity_rps / 2, 1))
            print(f"base load {settings.rate:g} req/s, {settings.duration_s:g}s per experiment", flush=True)
            for name in settings.experiments:
                wait_recovered(platform.stage)
                for result in run_experiment(platform, name, settings):
                    print_result(result)
                    results.append(result)
                sys.stdout.flush()
    print(f"\n{len(results)} experiment(s); unanswered requests in all: {sum(r.unanswered for r in results)}")
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faasml.bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per experiment")
    parser.add_argument("--rate", type=float, default=None,
                        help="base requests per second (default: half the measured capacity)")
    parser.add_argument("--hang", type=float, default=10.0, help="seconds the hung variant stays stopped")
    parser.add_argument("--hang-two-rate", type=float, default=20.0,
                        help="requests/s while both favoured variants hang (hang-two)")
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="added per request to the slowed executor")
    parser.add_argument("--overload", type=float, default=3.0, help="burst as a multiple of capacity")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help=f"comma-separated, from {', '.join(EXPERIMENTS)}")
    parser.add_argument("--echo", action="store_true",
                        help="sleepy test executors instead of the reference image models")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    experiments = tuple(e.strip() for e in args.experiments.split(",") if e.strip())
    unknown = [e for e in experiments if e not in EXPERIMENTS]
    if unknown:
        print(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    settings = ChaosSettings(duration_s=args.duration, rate=args.rate, hang_s=args.hang,
                             hang_two_rate=args.hang_two_rate, slow_ms=args.slow_ms,
                             overload=args.overload, models=not args.echo, experiments=experiments)
    if settings.models and not (args.models / "efficientnet-lite0-int8.card.json").exists():
        print(f"no reference models in {args.models} (make models), or pass --echo", file=sys.stderr)
        return 2
    results = run_chaos(settings, find_checkout(), args.models.resolve())
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.unanswered for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
