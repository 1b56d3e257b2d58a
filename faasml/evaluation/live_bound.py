"""The bound of a live cell: the platform as `bound.System`, from what the evaluation measured.

- **Pools.** Every node that runs a variant of the task is a pool of its CPUs (its
  executors are pinned there), inside one `machine` pool of all the machine's CPUs: the
  control plane (gateway, the selector on its unpinned `control` node, the load generator)
  runs on any core, so its CPU comes out of the machine, not out of one node.
- **Work** of a variant: the least, over the cell's runs, of its replicas' CPU (from
  /proc) per HTTP 200 answer: CPU spent on requests that were not answered only makes
  that figure larger, so in each run it is at most what an answer cost on average. A
  busy machine slows every core, so a cell's own runs, not the idle machine, say what an
  answer cost there. A variant with fewer than 20 answers in every run of the cell takes
  the least of its idle CPU per request and every run of the scenario.
- **Least latency**: the least of the idle probe's quiet figure (least hop overhead +
  work), its p10, and the lowest latency of any answer it gave in any run: no answer in
  the runs beats it, so every in-time answer of every run is allowed.
- **Overhead** per offered request, charged to the machine for every request, answered
  or not (the gateway and the selector see each one; the load generator sends each): the
  least over the cell's runs (every policy and round on that trace) of (CPU of every
  tracked process that is not one of the task's executors: gateway, selector, load
  generator) / (requests offered). In each of those runs it is at most what a request
  cost on average; the model takes it as spent within the request's own deadline.
- **Values**: whether each variant's top-1 is right on the request's own photo (the
  executor's code in-process, `correctness_table`, or'd with every right answer the runs
  saw, so a run can never beat the table), its declared accuracy, or 1 (in time). Text
  requests are right when answered: their values are 1.
- **Other work** on a shared machine (`others` in the CPU samples: the machine's busy
  time less every process of the run) is reserved on the machine for the length of the
  cell's shortest run: the least `others` of any sample of any of the cell's runs, taken
  out of every window less two sample intervals (a sample is an average over its
  interval, and the trace's clock starts a moment after the sampler's). On a quiet
  machine it is about 0; on a shared one it is what the runs could not have used.
Not charged: refused requests' CPU, and other work beyond its least. Both only make the
bound looser.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

import numpy as np

from faasml.evaluation.bound import BoundResult, Placement, Pool, Reserved, System, Trace, bound

MACHINE = "machine"
MIN_ANSWERS = 20   # a run's CPU per answer counts for a variant that answered at least this many
SAMPLE_S = 0.5     # the CPU sampler's interval (faasml/evaluation/cpu.py, as the runner starts it)


def machine_cpus() -> int:
    return len(os.sched_getaffinity(0))


def run_work_ms(name: str, runs: Sequence[dict]) -> list[tuple[float, str]]:
    """A variant's replicas' CPU per 200 answer in each run where it answered enough."""
    out = []
    for run in runs:
        answers = run["answers"].get(name, 0)
        spent = run["cpu_s"].get(name)
        if spent is not None and answers >= MIN_ANSWERS and spent > 0:
            out.append((spent * 1000.0 / answers, f"CPU per answer, {run['label']}"))
    return out


def variant_work_ms(name: str, idle: dict, runs: Sequence[dict]) -> tuple[float, str]:
    """Least CPU work per request of a variant, and where it came from."""
    candidates = run_work_ms(name, runs)
    cpu = idle.get("cpu_ms_per_request")
    if cpu is not None and math.isfinite(cpu) and cpu > 0:
        candidates.append((cpu, "idle CPU"))
    if candidates:
        return min(candidates)
    # no CPU reading (a gateway not started here): the compute time, a wall time
    wall = idle.get("service_p10_ms", math.nan)
    return (wall, "idle compute p10 (wall)") if wall is not None and math.isfinite(wall) else (0.0, "unknown")


def least_latency_ms(name: str, idle: dict, runs: Sequence[dict]) -> float:
    values = [idle.get(k) for k in ("quiet_latency_ms", "latency_p10_ms")]
    values += [run["least_latency_ms"].get(name) for run in runs]
    values = [v for v in values if v is not None and math.isfinite(v) and v >= 0]
    return min(values) if values else 0.0


def overhead_ms(runs: Sequence[dict]) -> tuple[float, str]:
    """Least control-plane CPU per offered request over the runs (0 without readings)."""
    per = [(run["overhead_cpu_s"] * 1000.0 / run["requests"], run["label"]) for run in runs
           if run.get("overhead_cpu_s") is not None and run["requests"]]
    return min(per) if per else (0.0, "no CPU readings")


def run_figures(label: str, records, cpu_totals: dict, task_variants: Sequence[str],
                cpu_samples: Sequence = (), wall_s: float | None = None) -> dict:
    """What the bound needs of one run: answers and least latency per variant, CPU."""
    answers: dict[str, int] = {}
    least: dict[str, float] = {}
    for r in records:
        if r.status == 200 and r.variant:
            answers[r.variant] = answers.get(r.variant, 0) + 1
            least[r.variant] = min(least.get(r.variant, math.inf), r.latency_ms)
    variants = set(task_variants)
    overhead = None
    if cpu_totals:
        overhead = sum(v for k, v in cpu_totals.items() if k not in variants and k != "machine")
    others = [sample.get("others") for _, sample in cpu_samples if sample.get("others") is not None]
    return {"label": label, "requests": len(records), "answers": answers, "least_latency_ms": least,
            "cpu_s": {k: v for k, v in cpu_totals.items() if k in variants}, "overhead_cpu_s": overhead,
            "least_others_cores": min(others) if others else None, "wall_s": wall_s}


def live_system(variants: dict, replicas: Sequence, node_cpus: dict[str, int], idle: dict,
                runs: Sequence[dict], cpus: int | None = None) -> tuple[System, dict]:
    """The platform as a bound.System: `variants` name -> info with `.node`; `replicas` with
    `.function` and `.node`; `idle` per variant from the idle probe; `runs` from
    `run_figures`. Returns the system and the figures it used, for the report."""
    cpus = cpus or machine_cpus()
    placements, used, nodes = [], {}, set()
    for name in sorted(variants):
        figures = idle.get(name) or {}
        if figures.get("requests") and figures.get("failures", 0) >= figures["requests"]:
            continue   # never answered when idle: not serving
        work, source = variant_work_ms(name, figures, runs)
        least = least_latency_ms(name, figures, runs)
        where = sorted({r.node for r in replicas if r.function == name and r.node}) or [variants[name].node]
        for node in where:
            placements.append(Placement(name, node, work, least))
            nodes.add(node)
        used[name] = {"work_ms": round(work, 3), "work_from": source, "least_latency_ms": round(least, 3),
                      "nodes": where}
    overhead, source = overhead_ms(runs)
    pools = [Pool(node, min(node_cpus.get(node, cpus), cpus), (MACHINE,)) for node in sorted(nodes)]
    pools.append(Pool(MACHINE, cpus))
    system = System(pools, placements, offered_ms={MACHINE: overhead})
    return system, {"machine_cpus": cpus, "node_cpus": {p.name: p.cpus for p in pools[:-1]},
                    "overhead_ms_per_request": round(overhead, 3), "overhead_from": source, "variants": used}


def for_cell(system: System, cell_runs: Sequence[dict]) -> tuple[System, dict]:
    """The system with one cell's work, overhead and other work, each the least over that
    cell's runs (every policy and round on its trace): a cell's bound must hold for each of
    its runs, not for the idle machine, and what a request costs moves with the load (a
    refused request costs less; contention on a busy machine slows every core). A variant
    that answered too few requests in every run keeps the scenario's figure (idle included)."""
    placements, work = [], {}
    for p in system.placements:
        measured = run_work_ms(p.model, cell_runs)
        figure = min(measured)[0] if measured else p.work_ms
        placements.append(Placement(p.model, p.node, figure, p.least_latency_ms, p.concurrency))
        work[p.model] = round(figure, 3)
    overhead, source = overhead_ms(cell_runs)
    others = [run.get("least_others_cores") for run in cell_runs]
    walls = [run.get("wall_s") for run in cell_runs]
    reserved, other_cores = (), 0.0
    if cell_runs and all(v is not None for v in others) and all(w is not None for w in walls):
        other_cores = max(0.0, min(others))
        if other_cores > 0:
            reserved = (Reserved(MACHINE, 0.0, min(walls), other_cores, slack_s=2 * SAMPLE_S),)
    return (System(system.pools, placements, reserved=reserved, offered_ms={MACHINE: overhead}),
            {"ms_per_request": round(overhead, 3), "from": source, "others_cores_reserved": round(other_cores, 3),
             "work_ms": work})


def live_bounds(scenario, arrivals: Sequence, system: System, accuracy: dict[str, float],
                correct: dict[str, np.ndarray] | None) -> dict[str, BoundResult]:
    """Three bounds on one trace: correct in time (per-input values; for text, answered),
    effective accuracy (declared accuracy) and in time (1)."""
    models = sorted({p.model for p in system.placements})
    classes = list(scenario.class_names)
    t = np.array([a.t_s for a in arrivals], dtype=float)
    cls = np.array([classes.index(a.cls) for a in arrivals], dtype=np.int64)
    deadlines = [scenario.by_name(c).deadline_ms for c in classes]

    def trace(pattern, values) -> Trace:
        return Trace(t, cls, deadlines, pattern, values, models)

    ones = trace(0, [[1.0] * len(models)])
    results = {"in_time": bound(system, ones) if models else _empty(len(t)),
               "effective_accuracy": bound(system, trace(0, [[accuracy.get(m, 1.0) for m in models]]))
               if models else _empty(len(t))}
    if correct is None or not models:
        results["correct_in_time"] = results["in_time"]
    else:
        from faasml.evaluation.bound import patterns

        inputs = np.array([a.input_index for a in arrivals], dtype=np.int64)
        matrix = np.stack([correct[m][inputs] for m in models], axis=1).astype(float)
        pattern, values = patterns(matrix)
        results["correct_in_time"] = bound(system, trace(pattern, values))
    return results


def _empty(n: int) -> BoundResult:
    return BoundResult(0.0, n, "trivial", "no variants", 0.0)


def observed_correct(records_per_run: Sequence[Sequence], n_inputs: int, models: Sequence[str]) -> dict[str, np.ndarray]:
    """Per variant, the inputs it was seen to answer right in any run."""
    seen = {m: np.zeros(n_inputs, dtype=bool) for m in models}
    for records in records_per_run:
        for r in records:
            if r.correct and r.variant in seen and 0 <= r.input_index < n_inputs:
                seen[r.variant][r.input_index] = True
    return seen


# ---------------------------------------------------------------- per-input correctness
def _classify_all(card: str, bodies: list[bytes], labels: list[int], resize_backend: str | None) -> list[bool]:
    from faasml.executor.variant import load_variant

    variant = load_variant(card, "cpu", 1, resize_backend=resize_backend)
    out = []
    for body, label in zip(bodies, labels):
        try:
            predictions = variant.classify(body, 1)
        except Exception:   # an input the executor refuses is never answered right
            out.append(False)
            continue
        out.append(bool(predictions) and predictions[0]["index"] == label)
    return out


def variant_cards(stack_path: Path, names: Sequence[str]) -> dict[str, tuple[Path, str | None]]:
    """Each image variant's card and resize backend, as stack.yml gives its executor."""
    from faasml.runtime.stack import load_stack

    stack = load_stack(stack_path)
    cards = {}
    for name in names:
        spec = stack.functions.get(name)
        if spec is None or "FAASML_MODEL" not in spec.environment:
            continue
        path = Path(spec.environment["FAASML_MODEL"])
        path = path if path.is_absolute() else stack.folder / path
        backend = spec.environment.get("FAASML_IMAGE_RESIZE_BACKEND")
        cards[name] = (path, None if backend in (None, "", "card") else backend)
    return cards


def correctness_table(cards: dict[str, tuple[Path, str | None]], inputs: Sequence, cache_dir: Path,
                      say=None) -> dict[str, np.ndarray]:
    """Per variant, whether its top-1 is right on each input of the pool: the executor's
    own `classify` in-process (one process per variant, up to one per core), cached under
    `cache_dir` by card, model file and inputs."""
    labels = [item.label for item in inputs]
    digest = hashlib.sha256("\n".join(item.name for item in inputs).encode()).hexdigest()[:12]
    table, todo = {}, {}
    for name, (card, backend) in cards.items():
        stamp = ""
        for f in sorted(card.parent.glob(card.name.replace(".card.json", "") + ".*")):
            stamp += f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)};"
        key = hashlib.sha256(f"{card}|{backend}|{stamp}|{digest}".encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"correct-{name}-{key}.json"
        if path.is_file():
            table[name] = np.array(json.loads(path.read_text()), dtype=bool)
        else:
            todo[name] = (card, backend, path)
    if todo:
        if say:
            say(f"per-input correctness of {len(todo)} variant(s) on {len(inputs)} inputs, in-process")
        bodies = [item.body for item in inputs]
        workers = max(1, min(len(todo), machine_cpus()))
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {name: pool.submit(_classify_all, str(card), bodies, labels, backend)
                       for name, (card, backend, _) in todo.items()}
            for name, future in futures.items():
                table[name] = np.array(future.result(), dtype=bool)
                path = todo[name][2]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(table[name].tolist()))
    return table
