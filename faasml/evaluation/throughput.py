"""Throughput efficiency: the full serving path against the same work with no server.

Side by side in one run, alternating rounds:
- in-process: one process per core (pinned), each loading the fastest image variant with
  the executor's own code (`faasml.executor.variant.load_variant`, one intra-op thread as
  stack.yml sets) and classifying the labelled photos in a loop: decode + preprocess +
  `session.run` + top-k, exactly what the executor does per request, with no HTTP at all;
- full path: `faasml up` on one node holding every core, the selector and that variant
  with one replica per core, driven closed-loop through the gateway
  (`/function/selector?task=...&variant=<fastest>`: gateway -> selector -> gateway ->
  executor and back) by this harness, with enough clients to keep every replica busy.

Efficiency = full-path answers per second / in-process answers per second (best round of
each side). While the full path runs, the CPU of every process is read from /proc, so the
report says where the difference goes (CPU per request of gateway, selector, executors
and the load generator itself, which shares the same cores). On a machine shared with
other work both rates move with the others' load; `cpu_efficiency` (in-process CPU per
answer / full-path CPU per answer, all components) does not, and is the ratio both sides
would reach on cores of their own.
"""
from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from faasml.evaluation.inputs import Input, image_inputs
from faasml.evaluation.platform import evaluation_platform
from faasml.launch import REPO, LocalPlatform

FASTEST = "efficientnet-lite0-int8"
TASK = "image-classification"


@dataclass
class ThroughputSettings:
    data: Path
    variant: str = FASTEST
    models: Path = REPO / "models"
    round_s: float = 10.0
    warmup_s: float = 3.0
    rounds: int = 2
    concurrency: int = 0       # closed-loop clients; 0 = 4 per core
    images: int = 100


def _inprocess_worker(card: str, paths: list[str], cpu: int, duration_s: float, warmup: int) -> tuple[int, float, float]:
    """One pinned process: classify photos for `duration_s`; (answers, seconds, CPU seconds)."""
    os.sched_setaffinity(0, {cpu})
    from faasml.executor.variant import load_variant

    variant = load_variant(card, "cpu", 1)
    bodies = [Path(p).read_bytes() for p in paths]
    for i in range(warmup):
        variant.classify(bodies[i % len(bodies)], 5)
    count, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < duration_s:
        variant.classify(bodies[count % len(bodies)], 5)
        count += 1
    return count, time.perf_counter() - start, time.process_time() - cpu0


def inprocess_round(settings: ThroughputSettings, paths: list[str], cpus: list[int]) -> dict:
    from faasml.evaluation.cpu import machine_busy_seconds

    card = str(settings.models / f"{settings.variant}.card.json")
    with ProcessPoolExecutor(len(cpus), mp_context=get_context("spawn")) as pool:
        # Every worker loads the model, then times its own loop.
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        futures = [pool.submit(_inprocess_worker, card, paths, cpu, settings.round_s, 5) for cpu in cpus]
        results = [f.result() for f in futures]
        busy1, t1 = machine_busy_seconds(), time.monotonic()
    answers = sum(r[0] for r in results)
    rate = sum(r[0] / r[1] for r in results)
    cpu_s = sum(r[2] for r in results)
    return {"answers": answers, "per_s": round(rate, 2),
            "cpu_ms_per_answer": round(cpu_s * 1000.0 / answers, 3) if answers else None,
            # cores busy on the whole machine during the round (model loading included)
            "machine_busy_cores": round((busy1 - busy0) / (t1 - t0), 2) if busy0 is not None else None}


def fullpath_round(platform: LocalPlatform, settings: ThroughputSettings, inputs: list[Input],
                   concurrency: int) -> dict:
    from faasml.evaluation.cpu import CpuSampler, tracked_processes
    from faasml.evaluation.loadgen import closed_loop
    from faasml.evaluation.scenario import ClientClass, Scenario
    from faasml.evaluation.trace import Arrival

    scenario = Scenario("throughput", TASK, "images",
                        (ClientClass("pinned", 1.0, 0.0, deadline_ms=10_000.0),))
    sequence = [Arrival(i, 0.0, "pinned", i % len(inputs)) for i in range(len(inputs))]
    params = {"task": TASK, "variant": settings.variant}
    sampler = CpuSampler(tracked_processes(platform.topology()), interval_s=1.0)
    # sample only the measured window: start after the warm-up inside closed_loop
    result_box = {}

    async def run() -> None:
        async def sample_later() -> None:
            await asyncio.sleep(settings.warmup_s)
            sampler.start()
        sampler_task = asyncio.ensure_future(sample_later())
        result_box["r"] = await closed_loop(platform.url, scenario, sequence, inputs, concurrency,
                                            settings.warmup_s, settings.round_s, extra_params=params)
        await sampler_task

    _run_loop(run())
    totals = sampler.stop()
    result = result_box["r"]
    answers = max(1, result.answered)
    cpu_ms = {name: round(seconds * 1000.0 / answers, 3) for name, seconds in sorted(totals.items())}
    machine_ms = cpu_ms.pop("machine", None)
    executors = sum(v for k, v in cpu_ms.items() if k == settings.variant)
    return {"answers": result.answered, "per_s": round(result.throughput_per_s, 2),
            "outcomes": result.outcomes, "latency_p50_ms": round(result.latency_p50_ms, 2),
            "cpu_ms_per_answer": cpu_ms,
            "cpu_ms_per_answer_total": round(sum(cpu_ms.values()), 3),
            # every process on the machine per answer: above the total, other work was running
            "machine_cpu_ms_per_answer": machine_ms,
            "executor_cpu_ms_per_answer": round(executors, 3)}


def _run_loop(coroutine) -> None:
    try:
        import uvloop
        uvloop.run(coroutine)
    except ImportError:
        asyncio.run(coroutine)


def write_nodes(folder: Path) -> Path:
    """One node holding every CPU, labelled so the edge variants fit, and the selector's
    control node (also every CPU, unpinned)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nodes-all-cores.yml"
    path.write_text("# written by faasml bench throughput: one node with every CPU, and the\n"
                    "# control plane's (the selector's) unpinned, as in edge/nodes.local.yml\n"
                    "nodes:\n  - name: all\n    labels: {faasml.io/node-class: edge}\n"
                    "    cpus: all\n    rtt_ms: 0\n"
                    "  - name: control\n    labels: {faasml.io/node-class: control}\n"
                    "    cpus: all\n    rtt_ms: 0\n")
    return path


def run_throughput(settings: ThroughputSettings, state_dir: Path,
                   say: Callable[[str], None] = print) -> dict:
    """Both sides, alternating rounds; returns the figures and the efficiency ratio."""
    cpus = sorted(os.sched_getaffinity(0))
    inputs = image_inputs(settings.data, settings.images)
    paths = [str(p) for p in _paths(settings.data, settings.images)]
    concurrency = settings.concurrency or 4 * len(cpus)
    rounds: list[dict] = []
    platform = evaluation_platform(state_dir / "throughput", nodes=write_nodes(state_dir),
                                   only=["selector", settings.variant])
    with platform:
        platform.wait_ready(TASK)
        platform.scale(settings.variant, len(cpus))
        platform.wait_ready(TASK)
        # warm every replica once the selector sees them all
        asyncio.run(_warm(platform.url, settings.variant, inputs, 4 * len(cpus)))
        for i in range(settings.rounds):
            say(f"throughput round {i + 1}/{settings.rounds}: in-process, {len(cpus)} processes x {settings.round_s:g}s")
            inproc = inprocess_round(settings, paths, cpus)
            platform.drain(5, 1)
            say(f"throughput round {i + 1}/{settings.rounds}: full path, {concurrency} clients x {settings.round_s:g}s")
            full = fullpath_round(platform, settings, inputs, concurrency)
            rounds.append({"in_process": inproc, "full_path": full})
            say(f"  in-process {inproc['per_s']:.1f}/s, full path {full['per_s']:.1f}/s")
    best_in = max(r["in_process"]["per_s"] for r in rounds)
    best_full = max(r["full_path"]["per_s"] for r in rounds)
    full_best = max((r["full_path"] for r in rounds), key=lambda f: f["per_s"])
    in_best = max((r["in_process"] for r in rounds), key=lambda f: f["per_s"])
    # CPU per answer does not depend on how much of the machine others take: the ratio of
    # the two is the throughput ratio both sides would reach on cores of their own.
    cpu_in = [r["in_process"]["cpu_ms_per_answer"] for r in rounds if r["in_process"]["cpu_ms_per_answer"]]
    cpu_full = [r["full_path"]["cpu_ms_per_answer_total"] for r in rounds if r["full_path"]["answers"]]
    cpu_efficiency = (sum(cpu_in) / len(cpu_in)) / (sum(cpu_full) / len(cpu_full)) if cpu_in and cpu_full else None
    return {
        "variant": settings.variant, "cores": len(cpus), "concurrency": concurrency,
        "round_s": settings.round_s, "rounds": rounds,
        "in_process_per_s": best_in, "full_path_per_s": best_full,
        "efficiency": round(best_full / best_in, 3) if best_in else None,
        "round_ratios": [round(r["full_path"]["per_s"] / r["in_process"]["per_s"], 3)
                         for r in rounds if r["in_process"]["per_s"]],
        "cpu_efficiency": round(cpu_efficiency, 3) if cpu_efficiency else None,
        "goal": 0.7,
        "where": _where(in_best, full_best),
    }


def _where(in_best: dict, full_best: dict) -> dict:
    """CPU per answer by component: what the full path spends beyond the model's own work."""
    base = in_best.get("cpu_ms_per_answer") or 0.0
    per = dict(full_best.get("cpu_ms_per_answer") or {})
    return {"in_process_cpu_ms_per_answer": base,
            "full_path_cpu_ms_per_answer": per,
            "executor_overhead_ms": round(full_best.get("executor_cpu_ms_per_answer", 0.0) - base, 3)}


def _paths(folder: Path, limit: int) -> list[Path]:
    from faasml.models.labelled import read_labelled_folder, spread_subset

    return [i.path for i in spread_subset(read_labelled_folder(folder), limit)]


async def _warm(url: str, variant: str, inputs: list[Input], n: int) -> None:
    from faasml.evaluation.loadgen import make_session, send_one

    async with make_session() as session:
        await asyncio.gather(*(send_one(session, url + "/function/selector",
                                        {"task": TASK, "variant": variant}, inputs[i % len(inputs)], 10.0)
                               for i in range(n)))
