"""CLI: `faasml predict` (one local prediction, no server). The executor's benchmarks are
`faasml bench executor` and `faasml bench batching` (faasml/bench/commands.py)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    predict = subparsers.add_parser("predict", help="run one prediction locally on a built variant")
    predict.add_argument("model", help="path to a variant's .card.json or .onnx")
    predict.add_argument("input", help="image file, text file, or '-' for stdin")
    predict.add_argument("--content-type", default="", help="as an HTTP client would send it")
    predict.add_argument("--top-k", default=None)
    predict.add_argument("--provider", default="cpu", choices=("cpu", "cuda"))
    predict.set_defaults(func=_predict)


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
