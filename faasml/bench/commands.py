"""`faasml bench ...`: every benchmark's command line, in one place.

Argument parsing only; the work is in faasml.bench (and, for `evaluate`, `throughput`,
`memory` and `images`, in the tooling packages that own it: their `register_bench`).
The serving packages (selector, executor, runtime, client) know nothing of the
benchmarks: the benchmarks import them, never the other way round.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from faasml.modelcard import RESIZE_BACKENDS

DEFAULT_MODELS = Path("models")


def register(subparsers: argparse._SubParsersAction) -> None:
    from faasml.deployment.commands import register_bench as register_memory
    from faasml.evaluation.commands import register_bench as register_evaluation
    from faasml.bench.serving import register_bench as register_serving
    from faasml.images.commands import register_bench as register_images
    from faasml.simulation.commands import register_bench as register_simulation

    bench = subparsers.add_parser("bench", help="benchmarks that print ratios against a baseline")
    sub = bench.add_subparsers(dest="bench", metavar="BENCH", required=True)
    _register_int8(sub)
    _register_executor(sub)
    _register_batching(sub)
    _register_gateway(sub)
    _register_coldstart(sub)
    register_images(sub)
    _register_selector(sub)
    register_serving(sub)   # the function server vs the one it replaced
    register_evaluation(sub)
    register_simulation(sub)
    register_memory(sub)


# ---------------------------------------------------------------- parsers

def _register_int8(sub: argparse._SubParsersAction) -> None:
    speed = sub.add_parser("int8", help="int8 against fp32 latency, per model family")
    speed.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder")
    speed.add_argument("--iterations", type=int, default=100)
    speed.add_argument("--threads", type=int, default=1,
                       help="ONNX Runtime intra-op threads (default 1: one request per core)")
    speed.set_defaults(func=_int8)


def _register_executor(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("executor", help="raw session.run vs the full handler, per variant")
    bench.add_argument("--models", default="models", help="folder with built variants")
    bench.add_argument("--only", nargs="*", help="variant names (default: all)")
    bench.add_argument("--iterations", type=int, default=60)
    bench.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = all)")
    bench.add_argument("--provider", default="cpu", choices=("cpu", "cuda"),
                       help="execution provider (cuda: on a GPU node with onnxruntime-gpu)")
    bench.add_argument("--session-options", action="store_true",
                       help="instead: session.run under each ONNX Runtime option set against the default")
    bench.add_argument("--cudnn-search", action="store_true",
                       help="instead: image variants under cuDNN's exhaustive and heuristic convolution "
                            "search, first and warm runs by batch size (with --provider cuda)")
    bench.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16], metavar="N",
                       help="batch sizes for --cudnn-search (default 1 2 4 8 16)")
    bench.add_argument("--resize-backend", nargs="+", choices=RESIZE_BACKENDS, metavar="NAME",
                       help="image variants: resample with these backends (opencv, pillow), side by "
                            "side over one session (default: the card's)")
    bench.add_argument("--json", help="also write the rows to this JSON file")
    bench.set_defaults(func=_executor)


def _register_batching(sub: argparse._SubParsersAction) -> None:
    batching = sub.add_parser(
        "batching", help="micro-batched executors against one request at a time: goodput, low-load p50")
    batching.add_argument("--models", default="models", help="folder with built variants")
    batching.add_argument("--only", nargs="*", help="variant names (default: lite0-int8 and minilm-l6-int8)")
    batching.add_argument("--max-batch", type=int, default=8)
    batching.add_argument("--wait-ms", type=float, default=0.0)
    batching.add_argument("--clients", type=int, default=8, help="concurrent requests at saturation")
    batching.add_argument("--seconds", type=float, default=1.5, help="per saturated round and mode")
    batching.add_argument("--rounds", type=int, default=3)
    batching.add_argument("--requests", type=int, default=60, help="sequential requests per mode at low load")
    batching.add_argument("--cpus", type=int, default=1, help="CPUs the benchmark may use (0 = all)")
    batching.add_argument("--provider", default="cpu", choices=("cpu", "cuda"),
                          help="execution provider (cuda: on a GPU node with onnxruntime-gpu)")
    batching.add_argument("--json", help="also write the rows to this JSON file")
    batching.set_defaults(func=_batching)


def _register_gateway(sub: argparse._SubParsersAction) -> None:
    gateway = sub.add_parser(
        "gateway", help="a trivial function called directly vs through `faasml up`, side by side")
    gateway.add_argument("--requests", type=int, default=3000,
                         help="sequential requests per side for latency (default 3000)")
    gateway.add_argument("--duration", type=float, default=5.0,
                         help="seconds per side for max throughput (default 5)")
    gateway.add_argument("--connections", type=int, default=16,
                         help="concurrent connections for max throughput (default 16)")
    gateway.add_argument("--rounds", type=int, default=2,
                         help="alternating direct/gateway throughput rounds (default 2)")
    gateway.add_argument("--json", dest="json_out", type=Path, default=None,
                         help="also write the figures to this JSON file")
    gateway.set_defaults(func=_gateway)


def _register_coldstart(sub: argparse._SubParsersAction) -> None:
    coldstart = sub.add_parser(
        "coldstart", help="request -> answer for variants at zero replicas, against warm and a trivial function")
    coldstart.add_argument("--variant", dest="variants", action="append", default=None, metavar="NAME",
                           help="a stack.yml executor (repeatable; default: every CPU variant)")
    coldstart.add_argument("--rounds", type=int, default=3, help="cold starts per function (default 3)")
    coldstart.add_argument("--warm", type=int, default=5, help="warm requests per round (default 5)")
    coldstart.add_argument("--json", dest="json_out", type=Path, default=None,
                           help="also write the figures to this JSON file")
    coldstart.set_defaults(func=_coldstart)


def _register_selector(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "selector", help="decision time for 5/50/500 variants; the selector hop's added latency")
    bench.add_argument("--decisions", type=int, default=2000, help="decisions per round and registry size")
    bench.add_argument("--rounds", type=int, default=5, help="rounds per registry size (median reported)")
    bench.add_argument("--requests", type=int, default=400, help="requests per side, trivial executor")
    bench.add_argument("--model-requests", type=int, default=100, help="requests per side, real variant")
    bench.add_argument("--breakdown-requests", type=int, default=200,
                       help="rounds over the hop's five paths, trivial executor (where its time goes)")
    bench.add_argument("--models", type=Path, default=Path("models"), help="reference variants folder")
    bench.add_argument("--json", dest="json_out", type=Path, default=None, help="also write figures here")
    bench.add_argument("--against", metavar="REV", default=None,
                       help="also run this git revision's decision benchmark, alternating rounds, and print "
                            "each figure's ratio to it (e.g. the commit before a change)")
    bench.add_argument("--decisions-only", action="store_true", help="skip the hop (no platform started)")
    bench.set_defaults(func=_selector)


# ---------------------------------------------------------------- runners

def _write_rows(rows: object, path: str | None) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(rows, fh, indent=2)


def _int8(args: argparse.Namespace) -> int:
    from faasml.bench.int8 import run_bench_int8

    return run_bench_int8(args.models, args.iterations, args.threads)


def _executor(args: argparse.Namespace) -> int:
    from faasml.bench import executor

    if args.cudnn_search:
        rows = executor.bench_cudnn_search(args.models, args.only, args.iterations, args.batch_sizes,
                                           args.provider)
    elif args.session_options:
        if args.provider != "cpu":
            print("faasml bench executor: --session-options compares CPU session settings; drop --provider")
            return 2
        rows = executor.bench_session_options(args.models, args.only, args.iterations, args.threads)
    else:
        rows = executor.run(args.models, args.only, args.iterations, args.threads, args.resize_backend,
                            args.provider)
    _write_rows(rows, args.json)
    return 0


def _batching(args: argparse.Namespace) -> int:
    from faasml.bench import batching

    settings = batching.BatchingBenchSettings(
        variants=tuple(args.only or batching.DEFAULT_VARIANTS), max_batch=args.max_batch,
        wait_ms=args.wait_ms, clients=args.clients, seconds=args.seconds, rounds=args.rounds,
        low_load_requests=args.requests, cpus=args.cpus, provider=args.provider)
    _write_rows(batching.run(args.models, settings), args.json)
    return 0


def _checkout(bench: str) -> Path | None:
    """The checkout a benchmark runs from, or None after saying why there is none."""
    from faasml.launch import find_checkout

    try:
        return find_checkout()
    except FileNotFoundError as exc:
        print(f"faasml bench {bench}: {exc}")
        return None


def _gateway(args: argparse.Namespace) -> int:
    from faasml.bench.gateway import GatewayBenchSettings, run_gateway_bench

    checkout = _checkout("gateway")
    if checkout is None:
        return 2
    settings = GatewayBenchSettings(requests=args.requests, duration_s=args.duration,
                                    connections=args.connections, rounds=args.rounds)
    return run_gateway_bench(settings, checkout, args.json_out)


def _coldstart(args: argparse.Namespace) -> int:
    from faasml.bench.coldstart import run_coldstart_bench

    checkout = _checkout("coldstart")
    if checkout is None:
        return 2
    return run_coldstart_bench(checkout, args.variants, args.rounds, args.warm, args.json_out)


def _selector(args: argparse.Namespace) -> int:
    from faasml.bench.selector import BenchSettings, run_selector_bench

    checkout = _checkout("selector")
    if checkout is None:
        return 2
    settings = BenchSettings(decisions=args.decisions, rounds=args.rounds, hop_requests=args.requests,
                             model_requests=args.model_requests, breakdown_requests=args.breakdown_requests)
    return run_selector_bench(settings, args.models.resolve(), checkout, args.json_out, args.against,
                              hop=not args.decisions_only)
