"""`faasml bench selector`: decision time by registry size, and the selector hop's added
latency over calling the chosen executor through the gateway directly, side by side.

Decision time: the real decide step (predict, limits, policy, in-flight taken) over
generated variants with scripted load, for 5, 50 and 500 variants; beside it, in the same
run, the same decisions forced down the candidate path (a Candidate per variant, every
pass in Python: decision.py), the baseline the table path is measured against.
Hop: one `faasml up` runs a trivial executor, the reference lite0-int8 variant (when
`models/` is built) and the selector; sequential keep-alive requests alternate between
`/function/<variant>` and `/function/selector?task=...`, so both sides share the moment.
"""
from __future__ import annotations

import gc
import http.client
import json
import math
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faasml.bench.hop import measure_legs, print_legs
from faasml.launch import LocalPlatform, executor_function, selector_function, two_nodes
from faasml.selector.decision import Decider
from faasml.selector.load import LoadTracker
from faasml.selector.params import SelectionRequest
from faasml.selector.policies import POLICIES, make_policy
from faasml.selector.predictor import LatencyPredictor
from faasml.selector.variant import Variant
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


def decision_times_us(count: int, policy_name: str, settings: BenchSettings,
                      table_from: float | None = None) -> list[float]:
    """`table_from`: the decider's threshold (math.inf: the candidate path always)."""
    rng = random.Random(settings.seed)
    load = LoadTracker()
    decider = Decider(LatencyPredictor(load), load)
    if table_from is not None:
        decider.table_from = table_from
    variants = synthetic_variants(count, rng)
    for variant in variants[::2]:  # half have fresh observations, a third some load
        load.observe(variant.id, variant.profile_latency_ms * 1.1, variant.profile_latency_ms)
    for variant in variants[::3]:
        load.acquire(variant.id)
    policy = make_policy(policy_name, rng)
    times = []
    for _ in range(settings.decisions):
        decision = decider.decide(variants, SelectionRequest(task="t", tradeoff=rng.random()), policy)
        load.release(decision.acquired)
        times.append(decision.decision_s * 1e6)
    return times


def _figures(size: int, policy: str, settings: BenchSettings, table_from: float | None = None) -> dict[str, Any]:
    """p50 and p99 per round; the median round is reported, with the spread, because on a
    shared machine one preempted round would otherwise stand for the whole run."""
    rounds = [decision_times_us(size, policy, settings, table_from) for _ in range(settings.rounds)]
    p50s = sorted(percentile(times, 50) for times in rounds)
    p99s = sorted(percentile(times, 99) for times in rounds)
    return {"p50_us": statistics.median(p50s), "p99_us": statistics.median(p99s),
            "p99_us_range": [p99s[0], p99s[-1]], "rounds": settings.rounds,
            "decisions_per_round": settings.decisions}


def bench_decisions(settings: BenchSettings) -> dict[str, Any]:
    gc.freeze()  # as functions/selector/handler.py does once the service is up
    by_size, baseline = {}, {}
    for size in settings.sizes:  # each size's baseline right after it: the same moment
        by_size[size] = _figures(size, "tradeoff", settings)
        baseline[size] = _figures(size, "tradeoff", settings, table_from=math.inf)
    at_50 = {name: _figures(50, name, settings) for name in POLICIES}
    return {"tradeoff_by_size": by_size, "candidate_path_by_size": baseline, "policies_at_50": at_50}


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
                       json_out: Path | None = None) -> int:
    decisions = bench_decisions(settings)
    print(f"decision time (policy tradeoff; predict + limits + rank + take in-flight); median of "
          f"{settings.rounds} rounds of {settings.decisions} decisions, p99 range over rounds; "
          f"beside it the candidate path (every variant in Python), run right after")
    print(f"  {'variants':>8} {'p50 µs':>9} {'p99 µs':>9}  {'p99 range':>17}  {'candidate path p50':>18} {'p99':>8}"
          f" {'p99 ratio':>9}")
    for size, figures in decisions["tradeoff_by_size"].items():
        low, high = figures["p99_us_range"]
        base = decisions["candidate_path_by_size"][size]
        print(f"  {size:>8} {figures['p50_us']:>9.1f} {figures['p99_us']:>9.1f}  {low:>7.1f} – {high:<7.1f}"
              f"  {base['p50_us']:>18.1f} {base['p99_us']:>8.1f} {figures['p99_us'] / base['p99_us']:>9.2f}")
    print("decision time at 50 variants, by policy")
    for name, figures in decisions["policies_at_50"].items():
        low, high = figures["p99_us_range"]
        print(f"  {name:>16} p50 {figures['p50_us']:7.1f} µs  p99 {figures['p99_us']:7.1f} µs "
              f"({low:.1f} – {high:.1f})")
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
    return 0
