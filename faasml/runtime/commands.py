"""`faasml up` and `faasml bench gateway`: argument parsing only; the work is in
faasml.runtime.server and faasml.bench.gateway."""
from __future__ import annotations

import argparse
from pathlib import Path

from faasml.runtime.config import RuntimeConfig
from faasml.settings import add_flags, load


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser(
        "up", help="run stack.yml's functions as local processes behind an OpenFaaS-compatible gateway")
    up.add_argument("-f", "--yaml", dest="stack", default="stack.yml", help="stack file (default stack.yml)")
    up.add_argument("--nodes", type=Path, default=None,
                    help="nodes file (default: edge/nodes.local.yml beside the stack, else one node)")
    up.add_argument("--state-dir", type=Path, default=None,
                    help="logs, run folders and the generated password (default: .faasml beside the stack)")
    up.add_argument("--filter", dest="only", action="append", default=[], metavar="NAME",
                    help="deploy only this stack function (repeatable)")
    add_flags(up, RuntimeConfig)
    up.set_defaults(func=_up)


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    gateway = bench_subparsers.add_parser(
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
    gateway.set_defaults(func=_bench_gateway)
    coldstart = bench_subparsers.add_parser(
        "coldstart", help="request -> answer for variants at zero replicas, against warm and a trivial function")
    coldstart.add_argument("--variant", dest="variants", action="append", default=None, metavar="NAME",
                           help="a stack.yml executor (repeatable; default: every CPU variant)")
    coldstart.add_argument("--rounds", type=int, default=3, help="cold starts per function (default 3)")
    coldstart.add_argument("--warm", type=int, default=5, help="warm requests per round (default 5)")
    coldstart.add_argument("--json", dest="json_out", type=Path, default=None,
                           help="also write the figures to this JSON file")
    coldstart.set_defaults(func=_bench_coldstart)


def _up(args: argparse.Namespace) -> int:
    from faasml.errors import FaasmlError
    from faasml.runtime.server import run

    config = load(RuntimeConfig, flags=vars(args), stack_path=Path(args.stack), nodes_path=args.nodes,
                  state_dir=args.state_dir, only=tuple(args.only))
    try:
        _event_loop_runner()(run(config))
    except FaasmlError as exc:
        print(f"faasml up: {exc.message}")
        return 2
    except OSError as exc:
        print(f"faasml up: {exc}")
        return 1
    return 0


def _event_loop_runner():
    """uvloop when installed (about 15-20% less gateway CPU per request here), else asyncio."""
    try:
        import uvloop
    except ImportError:
        import asyncio
        return asyncio.run
    return uvloop.run


def _checkout(bench: str) -> Path | None:
    """The checkout a benchmark runs from, or None after saying why there is none."""
    from faasml.bench.localstage import find_checkout

    try:
        return find_checkout()
    except FileNotFoundError as exc:
        print(f"faasml bench {bench}: {exc}")
        return None


def _bench_coldstart(args: argparse.Namespace) -> int:
    from faasml.bench.coldstart import run_coldstart_bench

    checkout = _checkout("coldstart")
    if checkout is None:
        return 2
    return run_coldstart_bench(checkout, args.variants, args.rounds, args.warm, args.json_out)


def _bench_gateway(args: argparse.Namespace) -> int:
    from faasml.bench.gateway import GatewayBenchSettings, run_gateway_bench

    checkout = _checkout("gateway")
    if checkout is None:
        return 2
    settings = GatewayBenchSettings(requests=args.requests, duration_s=args.duration,
                                    connections=args.connections, rounds=args.rounds)
    return run_gateway_bench(settings, checkout, args.json_out)
