"""CLI: `faasml predict` (one local prediction, no server), `faasml bench executor` and
`faasml bench batching`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faasml.modelcard import RESIZE_BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    predict = subparsers.add_parser("predict", help="run one prediction locally on a built variant")
    predict.add_argument("model", help="path to a variant's .card.json or .onnx")
    predict.add_argument("input", help="image file, text file, or '-' for stdin")
    predict.add_argument("--content-type", default="", help="as an HTTP client would send it")
    predict.add_argument("--top-k", default=None)
    predict.add_argument("--provider", default="cpu", choices=("cpu", "cuda"))
    predict.set_defaults(func=_predict)


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("executor", help="raw session.run vs the full handler, per variant")
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
    bench.set_defaults(func=_bench)
    batching = subparsers.add_parser(
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
    batching.set_defaults(func=_bench_batching)


def _bench_batching(args: argparse.Namespace) -> int:
    from faasml.bench import batching

    settings = batching.BatchingBenchSettings(
        variants=tuple(args.only or batching.DEFAULT_VARIANTS), max_batch=args.max_batch,
        wait_ms=args.wait_ms, clients=args.clients, seconds=args.seconds, rounds=args.rounds,
        low_load_requests=args.requests, cpus=args.cpus, provider=args.provider)
    rows = batching.run(args.models, settings)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from faasml.executor.config import ExecutorConfig
    from faasml.executor.service import ExecutorService
    from faasml.http import Headers, Request

    body = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
    service = ExecutorService(ExecutorConfig(model=args.model, provider=args.provider))
    service.load()
    query = {"top_k": args.top_k} if args.top_k else {}
    headers = Headers({"Content-Type": args.content_type} if args.content_type else {})
    response = service.handle(Request("POST", "/", query, headers, body))
    print(json.dumps(json.loads(response.body), indent=2))
    return 0 if response.status == 200 else 1


def _bench(args: argparse.Namespace) -> int:
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
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0
