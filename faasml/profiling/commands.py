"""`faasml profile`: argument parsing only; the work is in faasml.profiling.command."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PROFILES = Path("functions/selector/profiles.json")  # shipped beside the handler


def register(subparsers: argparse._SubParsersAction) -> None:
    profile = subparsers.add_parser(
        "profile", help="measure every variant through the gateway; write the profiles the selector reads")
    profile.add_argument("--gateway", default=None,
                         help="gateway URL(s), comma-separated (default: FAASML_GATEWAYS / OPENFAAS_URL / :8080)")
    profile.add_argument("--task", default=None, help="only variants of this task")
    profile.add_argument("--variant", action="append", default=[], help="only this variant (repeatable)")
    profile.add_argument("--input", action="append", default=[], metavar="TASK=FILE|FOLDER",
                         help="the input for a task (a file), or a folder whose files are sent in turn, so the "
                              "compute-time samples span real inputs (repeatable; default: a built-in sample)")
    profile.add_argument("--requests", type=int, default=50, help="sequential requests per variant (default 50)")
    profile.add_argument("--step", type=float, default=2.0, help="seconds per concurrency level (default 2)")
    profile.add_argument("--out", type=Path, default=DEFAULT_PROFILES,
                         help=f"profiles file (default {DEFAULT_PROFILES}; merged, not replaced)")
    profile.set_defaults(func=_profile)


def _profile(args: argparse.Namespace) -> int:
    from faasml.profiling.command import run_profile

    return run_profile(args)
