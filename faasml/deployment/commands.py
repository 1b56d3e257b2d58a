"""`faasml bench memory`: what each function replica holds in memory (stack.yml sizing)."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    memory = bench_subparsers.add_parser(
        "memory", help="resident memory of every function replica under a little load (stack.yml sizing)")
    memory.add_argument("-f", "--stack", type=Path, default=None, help="stack file (default: stack.yml)")
    memory.add_argument("--nodes", type=Path, default=None, help="nodes file (default: edge/nodes.local.yml)")
    memory.add_argument("--requests", type=int, default=40, help="requests per function and task (default 40)")
    memory.add_argument("--concurrency", type=int, default=2, help="requests in flight per function (default 2)")
    memory.add_argument("--fwatchdog", default=None,
                        help="of-watchdog binary to measure too (default: fwatchdog on the PATH)")
    memory.add_argument("--request-headroom", type=float, default=1.25,
                        help="requests.memory = (peak + watchdog) x this (default 1.25)")
    memory.add_argument("--limit-headroom", type=float, default=2.0,
                        help="limits.memory = (peak + watchdog) x this (default 2)")
    memory.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the figures here")
    memory.set_defaults(func=_bench_memory)


def _bench_memory(args: argparse.Namespace) -> int:
    from faasml.deployment.memory import DEFAULT_STACK, markdown_table, measure, watchdog_memory_mib

    fwatchdog = args.fwatchdog or shutil.which("fwatchdog")
    watchdog = watchdog_memory_mib(fwatchdog) if fwatchdog else None
    print(f"of-watchdog peak RSS: {watchdog if watchdog is not None else 'not measured (no fwatchdog)'} MiB")
    rows = measure(args.stack or DEFAULT_STACK, args.nodes, args.requests, args.concurrency)
    print(markdown_table(rows, watchdog or 0.0, args.request_headroom, args.limit_headroom))
    if args.json_out:
        args.json_out.write_text(json.dumps({"watchdog_peak_mib": watchdog,
                                             "replicas": [r.__dict__ for r in rows]}, indent=2) + "\n")
    return 0
