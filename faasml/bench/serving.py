"""`faasml bench serving`: the function server (faasml/serving: uvicorn + the guarded
protocol) against the hand-written one it replaced (templates/*/index.py as of
`--baseline-ref`: Flask under waitress for plain handlers, httptools under a bare asyncio
protocol for coroutine handlers), side by side in one `faasml up`.

The stage runs each function twice, once per server: a trivial executor (`echo-*`), the
selector (`selector-*`, forwarding to its own server's echo by task) and, when `models/`
holds it, the lite0-int8 executor (`lite0-*`). Sequential keep-alive requests go round
every path in turn (so both servers share each moment of a shared machine), in several
rounds; each figure is the median over rounds of the round's median, with the range.

  echo          the echo replica's own port: a plain handler's server alone
  gw→echo       /function/echo-* through the gateway
  selector      the selector replica's own port: its server + its work + the echo
  gw→selector   /function/selector-* through the gateway: the whole hop
  hop added     gw→selector − gw→echo (what the selector costs a request)
  lite0         the real executor's own port, one JPEG (the executor benchmark's figure)

The baseline comes from git (`git show REF:templates/faasml-python3-http/index.py`), so it
runs from a checkout; its Flask and waitress are in the test extra.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from faasml.stats import percentile

# faasml.bench.hop and faasml.launch (requests, numpy, yaml) are imported where they are
# used: `faasml --help` builds this command's parser and must start on the standard library.

TEMPLATE = "faasml-python3-http"
BASELINE_TEMPLATE = "faasml-python3-http-baseline"
DEFAULT_BASELINE_REF = "52ec826"   # main before faasml/serving: the hand-written index.py
SERVERS = {"new": TEMPLATE, "old": BASELINE_TEMPLATE}
ECHO_HANDLER = '''def handle(event, context):
    return {"statusCode": 200, "body": b'{"ok":true}',
            "headers": {"Content-Type": "application/json", "X-Faasml-Compute-Ms": "0.01"}}
'''


def baseline_index(checkout: Path, ref: str) -> str:
    done = subprocess.run(["git", "show", f"{ref}:templates/{TEMPLATE}/index.py"], cwd=checkout,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cannot read the baseline server from git ref {ref}: {done.stderr.strip()}")
    return done.stdout


def _local(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _jpeg() -> bytes | None:
    try:
        from faasml.bench.executor import sample_photo
        return sample_photo()
    except Exception:   # scikit-image absent: the lite0 leg is left out
        return None


def stage_functions(folder: Path, checkout: Path, models: Path, with_model: bool) -> dict[str, Any]:
    from faasml.launch import executor_function, selector_function

    (folder / "echo").mkdir()
    (folder / "echo" / "handler.py").write_text(ECHO_HANDLER)
    functions: dict[str, Any] = {}
    for side, lang in SERVERS.items():
        echo = executor_function(f"echo-{side}", folder / "none.card.json", f"bench-{side}", "cloud", 0.5, 0.05,
                                 handler=folder / "echo")
        echo["lang"] = lang
        functions[f"echo-{side}"] = echo
        selector = selector_function({"FAASML_DIRECT_FUNCTIONS": "auto"}, checkout / "functions/selector")
        selector["lang"] = lang
        selector["annotations"] = {"faasml.io/node-class": "control"}
        selector["environment"]["FAASML_SERVER_MAX_BODY"] = "67108864"
        functions[f"selector-{side}"] = selector
        if with_model:
            lite0 = executor_function(f"lite0-{side}", models / "efficientnet-lite0-int8.card.json",
                                      f"image-{side}", "cloud", 0.757, 12.0, handler=checkout / "functions/executors")
            lite0["lang"] = lang
            lite0["environment"]["FAASML_SERVER_THREADS"] = "1"   # as stack.yml deploys it
            functions[f"lite0-{side}"] = lite0
    return functions


def run(checkout: Path, models: Path, rounds: int, requests: int, ref: str) -> dict[str, Any]:
    from faasml.launch import LocalPlatform, two_nodes

    image = _jpeg()
    with_model = (models / "efficientnet-lite0-int8.card.json").exists() and image is not None
    with tempfile.TemporaryDirectory(prefix="faasml-bench-serving-") as tmp:
        folder = Path(tmp)
        template = folder / "templates" / BASELINE_TEMPLATE
        template.mkdir(parents=True)
        (template / "index.py").write_text(baseline_index(checkout, ref))
        (template / "template.yml").write_text(f"language: {BASELINE_TEMPLATE}\nfprocess: python index.py\n")
        functions = stage_functions(folder, checkout, models, with_model)
        nodes = two_nodes() + [{"name": "control", "labels": {"faasml.io/node-class": "control"},
                                "cpus": "all", "rtt_ms": 0}]
        platform = LocalPlatform.generated(folder, functions, nodes, cwd=checkout, selector="selector-new")
        try:
            platform.up()
            platform.selector = "selector-old"   # both selectors list every executor before a request
            platform.wait_ready()
            return measure(platform, rounds, requests, image if with_model else None)
        finally:
            platform.stop()


def measure(stage: LocalPlatform, rounds: int, requests: int, image: bytes | None) -> dict[str, Any]:
    from faasml.bench.hop import keepalive_poster, process_cpu_s

    calls: dict[str, Callable[[], None]] = {}
    pids: dict[str, int] = {}
    for side in SERVERS:
        echo, selector = stage.replica(f"echo-{side}"), stage.replica(f"selector-{side}")
        pids[f"echo-{side}"], pids[f"selector-{side}"] = echo["pid"], selector["pid"]
        calls[f"echo {side}"] = keepalive_poster(_local(echo["port"]), "/", b"hello")
        calls[f"gw→echo {side}"] = keepalive_poster(stage.url, f"/function/echo-{side}", b"hello")
        calls[f"selector {side}"] = keepalive_poster(_local(selector["port"]), f"/?task=bench-{side}", b"hello")
        calls[f"gw→selector {side}"] = keepalive_poster(stage.url, f"/function/selector-{side}?task=bench-{side}",
                                               b"hello")
        if image is not None:
            lite0 = stage.replica(f"lite0-{side}")
            pids[f"lite0-{side}"] = lite0["pid"]
            calls[f"lite0 {side}"] = keepalive_poster(_local(lite0["port"]), "/", image, "image/jpeg")
    for call in calls.values():   # warm every path
        for _ in range(20):
            call()
    per_round: dict[str, list[dict[str, float]]] = {leg: [] for leg in calls}
    cpu: dict[str, list[float]] = {name: [] for name in pids}
    for _ in range(rounds):
        times: dict[str, list[float]] = {leg: [] for leg in calls}
        cpu_before = {name: process_cpu_s(pid) or 0.0 for name, pid in pids.items()}
        legs = list(calls)
        for index in range(requests):
            # Alternate the order each request so neither server always goes first.
            for leg in (legs if index % 2 == 0 else legs[::-1]):
                started = time.perf_counter()
                calls[leg]()
                times[leg].append((time.perf_counter() - started) * 1e3)
        for name, pid in pids.items():
            used = (process_cpu_s(pid) or 0.0) - cpu_before[name]
            served = requests * (2 if name.startswith(("echo", "selector")) else 1)
            cpu[name].append(used / served * 1e6)
        for leg, samples in times.items():
            per_round[leg].append({"p50": percentile(samples, 50), "p99": percentile(samples, 99)})
        added = {side: per_round[f"gw→selector {side}"][-1]["p50"] - per_round[f"gw→echo {side}"][-1]["p50"]
                 for side in SERVERS}
        per_round.setdefault("hop added", []).append({"p50": added["new"], "p99": float("nan")})
        per_round.setdefault("hop added old", []).append({"p50": added["old"], "p99": float("nan")})
    return {"rounds": rounds, "requests_per_round": requests, "load_average": os.getloadavg(),
            "legs": {leg: summary(values) for leg, values in per_round.items()},
            "cpu_us_per_request": {name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                                   for name, v in cpu.items()}}


def summary(values: list[dict[str, float]]) -> dict[str, Any]:
    p50s = [v["p50"] for v in values]
    p99s = [v["p99"] for v in values if v["p99"] == v["p99"]]
    return {"p50_ms": statistics.median(p50s), "p50_range_ms": [min(p50s), max(p50s)],
            "p99_ms": statistics.median(p99s) if p99s else None,
            "p50_by_round_ms": p50s}


def report(result: dict[str, Any]) -> list[str]:
    legs = result["legs"]
    lines = [f"function server: faasml/serving (new) vs the hand-written index.py (old), side by side; "
             f"{result['rounds']} rounds x {result['requests_per_round']} sequential keep-alive requests per path, "
             f"alternating; load average {' '.join(f'{x:.2f}' for x in result['load_average'])}",
             f"  {'path':>12} {'new p50':>9} {'range':>15} {'old p50':>9} {'range':>15} {'new/old':>8}"
             f" {'new p99':>8} {'old p99':>8}"]
    names = sorted({leg.rsplit(' ', 1)[0] for leg in legs if leg.endswith((" new", " old"))} - {"hop added"},
                   key=["echo", "gw→echo", "selector", "gw→selector", "lite0"].index)
    for name in names + ["hop added"]:
        new = legs[name if name == "hop added" else f"{name} new"]
        old = legs["hop added old" if name == "hop added" else f"{name} old"]
        p99s = (f" {new['p99_ms']:>6.2f}ms {old['p99_ms']:>6.2f}ms" if new["p99_ms"] is not None else "")
        lines.append(f"  {name:>12} {new['p50_ms']:>7.3f}ms {new['p50_range_ms'][0]:>6.3f}–{new['p50_range_ms'][1]:<6.3f}"
                     f"   {old['p50_ms']:>7.3f}ms {old['p50_range_ms'][0]:>6.3f}–{old['p50_range_ms'][1]:<6.3f}"
                     f" {new['p50_ms'] / old['p50_ms']:>8.2f}{p99s}")
    lines.append("  CPU per request of each replica process (µs, median over rounds; /proc):")
    cpu = result["cpu_us_per_request"]
    for name in sorted({n.rsplit('-', 1)[0] for n in cpu}):
        new, old = cpu[f"{name}-new"], cpu[f"{name}-old"]
        lines.append(f"  {name:>12} new {new['median']:7.0f} ({new['min']:.0f}–{new['max']:.0f})"
                     f"  old {old['median']:7.0f} ({old['min']:.0f}–{old['max']:.0f})"
                     f"  new/old {new['median'] / old['median']:.2f}")
    hop_new, hop_old = legs["gw→selector new"]["p50_ms"], legs["gw→selector old"]["p50_ms"]
    verdict = "adopt" if hop_new <= 1.10 * hop_old else "keep the old (new is >10% worse on the hop)"
    lines.append(f"  the hop (gw→selector p50): new/old {hop_new / hop_old:.2f} → {verdict}")
    return lines


def register_bench(bench_sub: Any) -> None:
    parser = bench_sub.add_parser("serving", help="the function server vs the hand-written one it replaced, "
                                                  "side by side (hop and executor)")
    parser.add_argument("--models", default="models", help="the built variants (lite0-int8 leg when present)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="per path and round")
    parser.add_argument("--baseline-ref", default=DEFAULT_BASELINE_REF,
                        help="git ref whose templates/faasml-python3-http/index.py is the baseline")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.set_defaults(func=_command)


def _command(args: Any) -> int:
    from faasml.launch import find_checkout

    result = run(find_checkout(), Path(args.models).resolve(), args.rounds, args.requests, args.baseline_ref)
    print("\n".join(report(result)))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
