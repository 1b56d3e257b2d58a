"""`faasml bench evaluate` and `faasml bench throughput`: argument parsing only."""
from __future__ import annotations

import argparse
from pathlib import Path


def _floats(text: str) -> list[float]:
    try:
        values = [float(x.strip().rstrip("%")) / (100.0 if x.strip().endswith("%") else 1.0)
                  for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions like 0.25,0.5,1 or 25%,50%; got {text!r}")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"loads must be positive fractions of capacity; got {text!r}")
    return values


def _positive_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected answers per second, like 40; got {text!r}")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"the capacity must be a positive number of answers per second; got {text!r}")
    return value


def _rounds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of rounds, like 5; got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least one round per cell; got {text!r}")
    return value


def _sizes(text: str) -> list[int]:
    try:
        values = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated request counts like 1e5,1e6; got {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"request counts must be positive; got {text!r}")
    return values


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    from faasml.evaluation.defaults import DEFAULT_DATA, DEFAULT_POLICIES

    evaluate = bench_subparsers.add_parser(
        "evaluate", help="every selector policy on the same open-loop traces: scenarios x loads; report + plots",
        description="Measure capacity, then replay seeded Poisson traces at fractions of it for every "
                    "policy; write report.json, report.md and PNG plots (see docs/evaluation.md).")
    evaluate.add_argument("--quick", action="store_true",
                          help="the quick preset: scenario mix, loads 50/100/150%%, 3 policies, 3 rounds of 8 s runs "
                               "(about 7 min)")
    evaluate.add_argument("--scenario", dest="scenarios", action="append", default=None, metavar="NAME",
                          help="scenario name in scenarios/ or a YAML path (repeatable; default: all)")
    evaluate.add_argument("--policies", type=_names, default=None,
                          help=f"comma-separated policies (default {','.join(DEFAULT_POLICIES)})")
    evaluate.add_argument("--loads", type=_floats, default=None,
                          help="fractions of measured capacity, e.g. 0.25,0.5,0.75,1,1.5 (default: the scenario's)")
    evaluate.add_argument("--duration", type=float, default=None, help="seconds of trace per run (default 12; quick 8)")
    evaluate.add_argument("--repeats", type=_rounds, default=None, metavar="N",
                          help="rounds per cell: every policy replays the cell's trace once per round, "
                               "interleaved, for paired comparisons with intervals (default 5; quick 3)")
    evaluate.add_argument("--max-requests", type=int, default=None, help="cap on requests per run (default 5000)")
    evaluate.add_argument("--capacity-seconds", type=float, default=None,
                          help="closed-loop capacity measurement (default 10; quick 6)")
    evaluate.add_argument("--capacity-concurrency", type=int, default=None, help="closed-loop clients (default 16)")
    evaluate.add_argument("--capacity", dest="capacity_per_s", type=_positive_rate, default=None, metavar="RATE",
                          help="take 100%% load as RATE answers/s instead of measuring it, so that runs of two "
                               "settings or commits offer the same request rates")
    evaluate.add_argument("--idle-requests", type=int, default=None,
                          help="sequential pinned requests per variant for its idle figures (default 12)")
    evaluate.add_argument("--images", type=int, default=None, help="input pool size (default 300; quick 150)")
    evaluate.add_argument("--data", type=Path, default=None,
                          help=f"labelled image folder (default {DEFAULT_DATA.resolve()})")
    evaluate.add_argument("--out", type=Path, default=None,
                          help="report folder (default reports/evaluation-<timestamp>)")
    evaluate.add_argument("--gateway", default=None,
                          help="use this running gateway for scenarios without their own nodes file "
                               "(admin password from FAASML_GATEWAY_PASSWORD)")
    evaluate.add_argument("--seed", type=int, default=None, help="trace seed (default 7)")
    evaluate.add_argument("--drain", type=float, default=None, help="seconds of quiet between runs (default 2)")
    evaluate.add_argument("--client-timeout", type=float, default=None,
                          help="a request's timeout is max(its deadline, this) seconds (default 5)")
    evaluate.add_argument("--keep-selector", dest="fresh_selector", action="store_false", default=None,
                          help="do not restart the selector before every run (default: restart, so every "
                               "policy starts from the same selector state)")
    evaluate.add_argument("--shipped-profiles", dest="profile_here", action="store_false", default=None,
                          help="keep the selector's shipped latency profiles (default: the idle phase's compute "
                               "times replace them, as `faasml profile` on this machine would)")
    evaluate.add_argument("--throughput", dest="throughput", action="store_true", default=None,
                          help="also measure throughput efficiency (default: on, off with --quick)")
    evaluate.add_argument("--no-throughput", dest="throughput", action="store_false",
                          help="skip the throughput efficiency measurement")
    evaluate.add_argument("--replot", type=Path, default=None, metavar="DIR",
                          help="only rewrite report.md and the plots of an earlier report folder")
    evaluate.set_defaults(func=_evaluate)

    bound = bench_subparsers.add_parser(
        "bound", help="the capacity-respecting bound's solve time at cluster scale and its tightness",
        description="Solve the fluid bound on a seeded synthetic cluster at growing trace sizes (light and "
                    "twice-capacity load), then compare it with the exact LP on small traces "
                    "(docs/evaluation.md).")
    bound.add_argument("--requests", type=_sizes, default=[100_000, 1_000_000], metavar="N,N",
                       help="trace sizes (default 1e5,1e6)")
    bound.add_argument("--rate", type=_positive_rate, default=5000.0, help="light-load rate, requests/s (default 5000)")
    bound.add_argument("--nodes", type=int, default=100, help="cluster nodes (default 100)")
    bound.add_argument("--no-tightness", dest="tightness", action="store_false",
                       help="skip the exact-vs-fluid comparison")
    bound.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the figures here")
    bound.set_defaults(func=_bound)

    throughput = bench_subparsers.add_parser(
        "throughput", help="full path (gateway -> selector -> executor) vs in-process, fastest variant, all cores")
    throughput.add_argument("--data", type=Path, default=None, help="labelled image folder")
    throughput.add_argument("--seconds", type=float, default=10.0, help="seconds per round and side (default 10)")
    throughput.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    throughput.add_argument("--concurrency", type=int, default=0, help="closed-loop clients (default 4 per core)")
    throughput.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the figures here")
    throughput.set_defaults(func=_throughput)


def settings_from(args: argparse.Namespace):
    from faasml.evaluation.runner import Settings, quick_settings

    overrides = {
        "scenarios": args.scenarios, "policies": args.policies, "loads": args.loads,
        "duration_s": args.duration, "max_requests": args.max_requests, "repeats": args.repeats,
        "capacity_s": args.capacity_seconds, "capacity_concurrency": args.capacity_concurrency,
        "capacity_per_s": args.capacity_per_s,
        "idle_requests": args.idle_requests, "images": args.images, "data": args.data, "out": args.out,
        "gateway": args.gateway, "seed": args.seed, "drain_s": args.drain,
        "client_timeout_s": args.client_timeout, "throughput": args.throughput,
        "fresh_selector": args.fresh_selector, "profile_here": args.profile_here,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return quick_settings(**overrides) if args.quick else Settings(**overrides)


def _evaluate(args: argparse.Namespace) -> int:
    import json
    import sys

    from faasml.evaluation.scenario import ScenarioError
    from faasml.launch import LaunchError

    if args.replot:
        from faasml.evaluation.report import write_report

        report = json.loads((args.replot / "report.json").read_text())
        write_report(report, args.replot)
        print(f"rewrote {args.replot / 'report.md'} and its plots")
        return 0
    from faasml.evaluation.runner import run_evaluation

    try:
        report = run_evaluation(settings_from(args), argv=["faasml", "bench", "evaluate"] + sys.argv[3:])
    except (ScenarioError, LaunchError, FileNotFoundError) as exc:
        print(f"faasml bench evaluate: {exc}", file=sys.stderr)
        return 2
    out = Path(report["settings"]["out"] or "")
    print(f"report: {out / 'report.md'} ({report['wall_s']:.0f} s)")
    return 0


def _bound(args: argparse.Namespace) -> int:
    import json

    from faasml.evaluation.bound_bench import scale, tightness

    result = {"scale": scale(args.requests, args.rate, args.nodes)}
    if args.tightness:
        result["tightness"] = tightness()
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _throughput(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from faasml.evaluation.defaults import DEFAULT_DATA
    from faasml.evaluation.throughput import ThroughputSettings, run_throughput

    settings = ThroughputSettings(data=args.data or DEFAULT_DATA, round_s=args.seconds, rounds=args.rounds,
                                  concurrency=args.concurrency)
    with tempfile.TemporaryDirectory(prefix="faasml-throughput-") as folder:
        result = run_throughput(settings, Path(folder))
    print(f"throughput efficiency {result['efficiency']:.3f} (goal >= {result['goal']}): full path "
          f"{result['full_path_per_s']:.1f}/s vs in-process {result['in_process_per_s']:.1f}/s; "
          f"by CPU per answer {result['cpu_efficiency']}")
    print("CPU ms per answer:", json.dumps(result["where"]))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
    return 0
