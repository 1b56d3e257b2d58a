"""`faasml bench selector`: decision time by registry size, and the selector hop's added
latency over calling the chosen executor through the gateway directly, side by side.

Decision time: the engine's decide step (predict, limits, policy, in-flight taken) over
generated variants with scripted load, for 5, 50 and 500 variants. With `--against REV`,
the same benchmark of another revision of the repository (run from a temporary checkout
of it, in a subprocess) alternates with ours round by round, and each figure is printed
beside its baseline as a ratio: how a change to the selector moved the decision time.
Hop: one `faasml up` runs a trivial executor, the reference lite0-int8 variant (when
`models/` is built) and the selector; sequential keep-alive requests alternate between
`/function/<variant>` and `/function/selector?task=...`, so both sides share the moment.
"""
from __future__ import annotations

import gc
import http.client
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faasml.bench.hop import measure_legs, print_legs
from faasml.launch import LocalPlatform, executor_function, selector_function, two_nodes
from faasml.selector.config import SelectorConfig
from faasml.selector.engine import Engine
from faasml.selector.engine.policies import POLICIES
from faasml.selector.engine.registry import snapshot_of
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.variant import Variant
from faasml.stats import percentile

# The fast path's goals (docs/selector.md): decision p99 by registry size, hop added p50
# by executor.
GOAL_DECISION_P99_US = {50: 100.0, 500: 500.0}
GOAL_ADDED_P50_MS = {"bench-echo": 1.0, "efficientnet-lite0-int8": 1.5}
ECHO_HANDLER = '''def handle(event, context):
    return {"statusCode": 200, "body": b'{"ok":true}',
            "headers": {"Content-Type": "application/json", "X-Faasml-Compute-Ms": "0.01"}}
'''


@dataclass
class BenchSettings:
    sizes: tuple[int, ...] = (5, 50, 500)
    decisions: int = 2000          # decisions per round and registry size
    rounds: int = 5                # rounds per registry size (median round reported)
    hop_requests: int = 400        # per side, trivial executor
    model_requests: int = 100      # per side, real variant
    breakdown_requests: int = 200  # rounds over the hop's five paths (bench/hop.py)
    seed: int = 1


def synthetic_variants(count: int, rng: random.Random) -> list[Variant]:
    """Variants shaped like real ones: accuracy 0.6-0.9, latency 5-200 ms (log-uniform)."""
    return [Variant(name=f"v{i}", namespace="openfaas-fn", gateway="http://gw", task="t",
                    accuracy=rng.uniform(0.6, 0.9), profile_latency_ms=math.exp(rng.uniform(math.log(5), math.log(200))),
                    rtt_ms=rng.choice((0.0, 0.0, 20.0)), replicas=rng.choice((1, 2)),
                    available_replicas=rng.choice((1, 2)), key=f"v{i}") for i in range(count)]


def decision_times_us(count: int, policy_name: str, settings: BenchSettings) -> list[float]:
    """Decision times (µs) over `count` synthetic variants, half observed, a third loaded;
    each decision's request is given back before the next, as an answer would."""
    rng = random.Random(settings.seed)
    engine = Engine(SelectorConfig(policy=policy_name).engine(), rng)
    variants = synthetic_variants(count, rng)
    engine.use_snapshot(snapshot_of(variants))
    now = 1000.0
    for variant in variants[::2]:  # half have fresh observations, a third some load
        engine.observe(variant.id, now, variant.profile_latency_ms * 1.1, variant.profile_latency_ms)
    for variant in variants[::3]:
        engine.acquire(variant.id, now)
    times = []
    clock = time.perf_counter
    for _ in range(settings.decisions):
        request = SelectionRequest(task="t", tradeoff=rng.random())
        started = clock()
        decision = engine.decide(request, now)
        elapsed = clock() - started
        engine.release(decision.ticket, now)
        times.append(elapsed * 1e6)
    return times


def _summary(rounds: list[list[float]], settings: BenchSettings) -> dict[str, Any]:
    """p50 and p99 per round; the median round is reported, with the spread, because on a
    shared machine one preempted round would otherwise stand for the whole run."""
    p50s = sorted(percentile(times, 50) for times in rounds)
    p99s = sorted(percentile(times, 99) for times in rounds)
    return {"p50_us": statistics.median(p50s), "p99_us": statistics.median(p99s),
            "p50_us_range": [p50s[0], p50s[-1]], "p99_us_range": [p99s[0], p99s[-1]],
            "rounds": len(rounds), "decisions_per_round": settings.decisions}


# Run in a checkout of the baseline revision: its own bench's decision times, as JSON.
_BASELINE_ROUND = """
import gc, json, sys
from faasml.bench.selector import BenchSettings, decision_times_us
gc.freeze()
size, decisions, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(json.dumps(decision_times_us(size, "tradeoff", BenchSettings(decisions=decisions, seed=seed))))
"""


class Baseline:
    """Another revision's decision benchmark, from a temporary checkout of it."""

    def __init__(self, revision: str, repo: Path):
        self.revision = revision
        self.folder = Path(tempfile.mkdtemp(prefix="faasml-bench-baseline-"))
        archive = subprocess.run(["git", "-C", str(repo), "archive", revision, "faasml"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.folder)], input=archive, check=True)
        self.commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", revision],
                                     capture_output=True, text=True, check=True).stdout.strip()

    def round(self, size: int, settings: BenchSettings) -> list[float]:
        env = {**os.environ, "PYTHONPATH": str(self.folder)}
        out = subprocess.run([sys.executable, "-c", _BASELINE_ROUND, str(size), str(settings.decisions),
                              str(settings.seed)], cwd=self.folder, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"baseline {self.revision}: {out.stderr.strip()[-500:]}")
        return json.loads(out.stdout)

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def bench_decisions(settings: BenchSettings, baseline: Baseline | None = None) -> dict[str, Any]:
    gc.freeze()  # as functions/selector/handler.py does once the service is up
    by_size: dict[int, Any] = {}
    against: dict[int, Any] = {}
    for size in settings.sizes:
        ours, theirs = [], []
        for _ in range(settings.rounds):   # alternating: both sides share the machine's moments
            ours.append(decision_times_us(size, "tradeoff", settings))
            if baseline is not None:
                theirs.append(baseline.round(size, settings))
        by_size[size] = _summary(ours, settings)
        if baseline is not None:
            against[size] = _summary(theirs, settings)
    at_50 = {name: _summary([decision_times_us(50, name, settings) for _ in range(settings.rounds)], settings)
             for name in POLICIES}
    result: dict[str, Any] = {"tradeoff_by_size": by_size, "policies_at_50": at_50}
    if baseline is not None:
        result["baseline"] = {"revision": baseline.revision, "commit": baseline.commit, "tradeoff_by_size": against}
    return result


def _timed_post(connection: http.client.HTTPConnection, path: str, body: bytes,
                content_type: str) -> tuple[float, dict[str, str]]:
    started = time.perf_counter()
    connection.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    response.read()
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if response.status != 200:
        raise RuntimeError(f"POST {path} answered {response.status}")
    return elapsed_ms, dict(response.getheaders())


# The selector as deployed (direct calls: `FAASML_DIRECT_FUNCTIONS=auto`) and a second one
# forwarding through the gateway (`off`), measured in the same rounds.
SELECTORS = {"selector": "direct", "selector-via-gateway": "via gateway"}
BASELINE = "no selector"  # the executor through the gateway, as a client would call it


def measure_hop(port: int, variant: str, task: str, body: bytes, content_type: str,
                requests: int) -> dict[str, Any]:
    """Sequential keep-alive requests alternating over the executor through the gateway
    and each selector in SELECTORS, so every path sees the same moments."""
    paths = {BASELINE: f"/function/{variant}",
             **{mode: f"/function/{name}?task={task}" for name, mode in SELECTORS.items()}}
    connections = {key: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for key in paths}
    for _ in range(10):  # warm every path: connections, caches, the selectors' observations
        for key, path in paths.items():
            _, headers = _timed_post(connections[key], path, body, content_type)
            if key != BASELINE and headers.get("X-Faasml-Variant") != variant:
                raise RuntimeError(f"{path} chose {headers.get('X-Faasml-Variant')}, not {variant}")
    times: dict[str, list[float]] = {key: [] for key in paths}
    for _ in range(requests):
        for key, path in paths.items():
            times[key].append(_timed_post(connections[key], path, body, content_type)[0])
    side = lambda xs: {"p50_ms": percentile(xs, 50), "p99_ms": percentile(xs, 99)}  # noqa: E731
    result = {"variant": variant, "requests": requests, **{key: side(xs) for key, xs in times.items()}}
    for mode in SELECTORS.values():
        result[f"added_p50_ms {mode}"] = result[mode]["p50_ms"] - result[BASELINE]["p50_ms"]
    result["added_p50_ms"] = result[f"added_p50_ms {SELECTORS['selector']}"]
    return result


def _cat_jpeg() -> bytes | None:
    try:
        import io

        import skimage.data
        from PIL import Image
    except ImportError:
        return None
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bench_hop(settings: BenchSettings, models: Path, checkout: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`checkout`: the repository whose functions/ and templates/ the stage runs. Returns
    the hop per executor and, on the trivial one, where its time goes (bench/hop.py)."""
    with tempfile.TemporaryDirectory(prefix="faasml-bench-selector-") as tmp:
        folder = Path(tmp)
        (folder / "echo").mkdir()
        (folder / "echo" / "handler.py").write_text(ECHO_HANDLER)
        echo = executor_function("bench-echo", folder / "none.card.json", "bench-echo", "cloud", 0.5, 0.05,
                                 handler=folder / "echo")
        # The selector on its own unpinned control node, as edge/nodes.local.yml and the
        # reference stack place it: left to fit any node, it was pinned to the edge CPU.
        functions = {"bench-echo": echo}
        for name, mode in SELECTORS.items():
            selector = selector_function({"FAASML_DIRECT_FUNCTIONS": "auto" if mode == "direct" else "off"},
                                         checkout / "functions/selector")
            selector["annotations"] = {"faasml.io/node-class": "control"}
            functions[name] = selector
        card = models / "efficientnet-lite0-int8.card.json"
        image = _cat_jpeg()
        if card.exists() and image is not None:
            functions["efficientnet-lite0-int8"] = executor_function(
                "efficientnet-lite0-int8", card, "image-classification", "cloud", 0.757, 12.0,
                handler=checkout / "functions/executors")
        nodes = two_nodes() + [{"name": "control", "labels": {"faasml.io/node-class": "control"},
                                "cpus": "all", "rtt_ms": 0}]
        with LocalPlatform.generated(folder, functions, nodes, cwd=checkout) as stage:
            stage.wait_ready()
            results = [measure_hop(stage.port, "bench-echo", "bench-echo", b"hello", "text/plain",
                                   settings.hop_requests)]
            if "efficientnet-lite0-int8" in functions:
                results.append(measure_hop(stage.port, "efficientnet-lite0-int8", "image-classification",
                                           image, "image/jpeg", settings.model_requests))
            legs = measure_legs(stage, "bench-echo", "bench-echo", b"hello", settings.breakdown_requests)
            return results, legs


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def run_selector_bench(settings: BenchSettings, models: Path, checkout: Path,
                       json_out: Path | None = None, against: str | None = None, hop: bool = True) -> int:
    baseline = Baseline(against, checkout) if against else None
    try:
        decisions = bench_decisions(settings, baseline)
    finally:
        if baseline is not None:
            baseline.close()
    print(f"decision time (policy tradeoff; predict + limits + rank + take in-flight); median of "
          f"{settings.rounds} rounds of {settings.decisions} decisions, p50 and p99 ranges over rounds"
          + (f"; beside it {against} ({decisions['baseline']['commit']}), rounds alternating" if baseline else ""))
    print(f"  {'variants':>8} {'p50 µs':>9} {'p99 µs':>9}  {'p99 range':>17}"
          + (f"  {'baseline p50':>12} {'p99':>8} {'p50 ratio':>9} {'p99 ratio':>9}" if baseline else ""))
    for size, figures in decisions["tradeoff_by_size"].items():
        low, high = figures["p99_us_range"]
        line = f"  {size:>8} {figures['p50_us']:>9.1f} {figures['p99_us']:>9.1f}  {low:>7.1f} – {high:<7.1f}"
        if baseline is not None:
            base = decisions["baseline"]["tradeoff_by_size"][size]
            line += (f"  {base['p50_us']:>12.1f} {base['p99_us']:>8.1f} {figures['p50_us'] / base['p50_us']:>9.2f}"
                     f" {figures['p99_us'] / base['p99_us']:>9.2f}")
        print(line)
    print("decision time at 50 variants, by policy")
    for name, figures in decisions["policies_at_50"].items():
        low, high = figures["p99_us_range"]
        print(f"  {name:>16} p50 {figures['p50_us']:7.1f} µs  p99 {figures['p99_us']:7.1f} µs "
              f"({low:.1f} – {high:.1f})")
    if not hop:
        _report(decisions, [], {}, json_out)
        return 0
    hops, legs = bench_hop(settings, models, checkout)
    print("selector hop vs the chosen executor through the gateway directly (sequential, keep-alive, "
          "alternating): the selector calling the function directly (as deployed) and through the gateway")
    print(f"  {'executor':>24} {'no selector p50':>15} {'p99':>7} │ {'direct p50':>10} {'p99':>7} {'added':>6}"
          f" │ {'via gw p50':>10} {'p99':>7} {'added':>6}")
    for hop in hops:
        cells = [f"{hop[m]['p50_ms']:>8.2f}ms {hop[m]['p99_ms']:>5.2f}ms {hop['added_p50_ms ' + m]:>4.2f}ms"
                 for m in SELECTORS.values()]
        print(f"  {hop['variant']:>24} {hop[BASELINE]['p50_ms']:>13.2f}ms {hop[BASELINE]['p99_ms']:>5.2f}ms"
              f" │ {cells[0]} │ {cells[1]}")
    print_legs(legs)
    _report(decisions, hops, legs, json_out)
    return 0


def _report(decisions: dict[str, Any], hops: list[dict[str, Any]], legs: dict[str, Any], json_out: Path | None) -> None:
    goals = []
    for size, goal in GOAL_DECISION_P99_US.items():
        p99 = decisions["tradeoff_by_size"].get(size, {}).get("p99_us", math.nan)
        goals.append(f"decision p99 at {size} variants {p99:.1f} µs (< {goal:g}: {_verdict(p99 < goal)})")
    for hop in hops:
        goal = GOAL_ADDED_P50_MS.get(hop["variant"])
        if goal is not None:
            goals.append(f"{hop['variant']} hop added p50 {hop['added_p50_ms']:.2f} ms "
                         f"(< {goal:g}: {_verdict(hop['added_p50_ms'] < goal)})")
    print("goals: " + "; ".join(goals))
    if json_out is not None:
        json_out.write_text(json.dumps({"decisions": decisions, "hops": hops, "hop_legs": legs},
                                       indent=2) + "\n")
