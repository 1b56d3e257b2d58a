"""`faasml profile` and `faasml bench selector`: argument parsing only; the work is in
faasml.profiling and faasml.bench.selector."""
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
    profile.add_argument("--input", action="append", default=[], metavar="TASK=FILE",
                         help="input file for a task without a built-in sample (repeatable)")
    profile.add_argument("--requests", type=int, default=50, help="sequential requests per variant (default 50)")
    profile.add_argument("--step", type=float, default=2.0, help="seconds per concurrency level (default 2)")
    profile.add_argument("--out", type=Path, default=DEFAULT_PROFILES,
                         help=f"profiles file (default {DEFAULT_PROFILES}; merged, not replaced)")
    profile.set_defaults(func=_profile)


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    bench = bench_subparsers.add_parser(
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
    bench.set_defaults(func=_bench)


def _profile(args: argparse.Namespace) -> int:
    from faasml.profiling.command import run_profile

    return run_profile(args)


def _bench(args: argparse.Namespace) -> int:
    from faasml.bench.localstage import find_checkout
    from faasml.bench.selector import BenchSettings, run_selector_bench

    try:
        checkout = find_checkout()
    except FileNotFoundError as exc:
        print(f"faasml bench selector: {exc}")
        return 2
    settings = BenchSettings(decisions=args.decisions, rounds=args.rounds, hop_requests=args.requests,
                             model_requests=args.model_requests, breakdown_requests=args.breakdown_requests)
    return run_selector_bench(settings, args.models.resolve(), checkout, args.json_out, args.against,
                              hop=not args.decisions_only)
