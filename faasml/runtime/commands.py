"""`faasml up`: argument parsing only; the work is in faasml.runtime.server. (Its
benchmarks, `faasml bench gateway` and `coldstart`, are in faasml/bench/commands.py.)"""
from __future__ import annotations

import argparse
from pathlib import Path

from faasml.runtime.config import RuntimeConfig
from faasml.settings import add_flags, load


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser(
        "up", help="run stack.yml's functions as local processes (or any image, --containers podman) "
                   "behind an OpenFaaS-compatible gateway")
    up.add_argument("-f", "--yaml", dest="stack", default="stack.yml", help="stack file (default stack.yml)")
    up.add_argument("--nodes", type=Path, default=None,
                    help="nodes file (default: edge/nodes.local.yml beside the stack, else one node)")
    up.add_argument("--state-dir", type=Path, default=None,
                    help="logs, run folders and the generated password (default: .faasml beside the stack)")
    up.add_argument("--filter", dest="only", action="append", default=[], metavar="NAME",
                    help="deploy only this stack function (repeatable)")
    up.add_argument("--empty", action="store_true",
                    help="start with no functions (the stack file may be absent): `faas-cli deploy` adds them")
    add_flags(up, RuntimeConfig)
    up.set_defaults(func=_up)


def _up(args: argparse.Namespace) -> int:
    from faasml.errors import FaasmlError
    from faasml.runtime.server import run

    config = load(RuntimeConfig, flags=vars(args), stack_path=Path(args.stack), nodes_path=args.nodes,
                  state_dir=args.state_dir, only=tuple(args.only), empty=args.empty)
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
