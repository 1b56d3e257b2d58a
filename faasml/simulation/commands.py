"""`faasml bench simulate` and `faasml bench correctness`: argument parsing only."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SIM_DATA = Path(__file__).resolve().parents[2] / "scenarios" / "simulation"
DEFAULT_CORRECTNESS = SIM_DATA / "correctness.json"


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers like 1,4,16; got {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"selector replicas must be >= 1; got {text!r}")
    return values


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    from faasml.evaluation.commands import _floats, _names, _positive_rate
    from faasml.evaluation.defaults import DEFAULT_DATA, DEFAULT_POLICIES

    simulate = bench_subparsers.add_parser(
        "simulate", help="the selector's engine on simulated time: scenarios x loads x policies at cluster "
                         "scale, the evaluation's report; --validate compares with live runs",
        description="Simulate the platform (executors as single-threaded processes sharing their nodes' CPUs, "
                    "gateways, selector replicas running the selector's own engine) on the traces "
                    "`faasml bench evaluate` replays live; write report.json, report.md and plots "
                    "(docs/simulation.md).")
    simulate.add_argument("--scenario", dest="scenarios", action="append", default=None, metavar="NAME",
                          help="scenario in scenarios/ or scenarios/simulation/, or a YAML path (repeatable; "
                               "default: mix, edge-cloud, shifting, text)")
    simulate.add_argument("--policies", type=_names, default=None,
                          help=f"comma-separated policies (default {','.join(DEFAULT_POLICIES)})")
    simulate.add_argument("--loads", type=_floats, default=None, help="fractions of capacity (default: the scenario's)")
    simulate.add_argument("--selectors", type=_ints, default=None, metavar="N[,N...]",
                          help="selector replicas, each a run of its own on the same traces (default: the scenario's)")
    simulate.add_argument("--duration", type=float, default=None, help="seconds of trace per cell (default 12)")
    simulate.add_argument("--max-requests", type=int, default=None,
                          help="cap on requests per cell, as the live default (5000); 0: none")
    simulate.add_argument("--capacity", dest="capacity_per_s", type=_positive_rate, default=None, metavar="RATE",
                          help="take 100%% load as RATE answers/s instead of simulating the closed loop")
    simulate.add_argument("--capacity-concurrency", type=int, default=None,
                          help="closed-loop clients per 2 executor CPUs (default 16, the live harness's)")
    simulate.add_argument("--images", type=int, default=None, help="input pool size (default 300, as live)")
    simulate.add_argument("--seed", type=int, default=None, help="trace seed (default 7, as live)")
    simulate.add_argument("--seeds", type=int, default=None, metavar="N",
                          help="N traces per cell (seeds seed..seed+N-1, the first the live one): figures pool "
                               "them, each seed's kept beside (default 1)")
    simulate.add_argument("--profiles", type=Path, default=None,
                          help="service-time distributions (default scenarios/simulation/profiles.json)")
    simulate.add_argument("--selector-profiles", type=Path, default=None,
                          help="the profiles the selectors believe (default: the same as --profiles)")
    simulate.add_argument("--overheads", type=Path, default=None,
                          help="control-plane CPU per request (default scenarios/simulation/overheads.json)")
    simulate.add_argument("--correctness", type=Path, default=None,
                          help="per-photo correctness (default scenarios/simulation/correctness.json)")
    simulate.add_argument("--stack", type=Path, default=None, help="the stack file (default stack.yml)")
    simulate.add_argument("--out", type=Path, default=None, help="report folder (default reports/simulation-<time>)")
    simulate.add_argument("--no-records", dest="records", action="store_false", default=None,
                          help="write no per-request records files (the latency plots need them)")
    simulate.add_argument("--no-bound", dest="bound", action="store_false", default=None,
                          help="skip the LP upper bound per trace")
    simulate.add_argument("--no-plots", dest="plots", action="store_false", default=None, help="skip the plots")
    simulate.add_argument("--replot", type=Path, default=None, metavar="DIR",
                          help="only rewrite report.md and the plots of an earlier report folder")
    validate = simulate.add_argument_group(
        "validation", "--validate runs `faasml bench evaluate` (mix and edge-cloud at 25-100%% of measured "
                      "capacity, by default) and the simulator on the same traces, calibrated from that live run, "
                      "and writes validation.md: correct-in-time within 0.04, class p50 within 25%%, policy order")
    validate.add_argument("--validate", action="store_true", help="compare the simulator with live runs")
    validate.add_argument("--live", type=Path, default=None, metavar="DIR",
                          help="with --validate: compare with this earlier live report folder, run nothing live")
    validate.add_argument("--idle-requests", type=int, default=None,
                          help="with --validate: sequential requests per variant in the live idle phase, the "
                               "service-time samples (default 40)")
    validate.add_argument("--data", type=Path, default=None, help="labelled image folder (live runs)")
    validate.add_argument("--replay-others", action="store_true", default=None,
                          help="with --validate: also simulate each cell with the CPU other processes used during "
                               "its live run taken from the machine (a shared machine)")
    simulate.set_defaults(func=_simulate)

    correctness = bench_subparsers.add_parser(
        "correctness", help="every image model on every labelled photo (executor code): the simulator's "
                            "per-photo correctness table",
        description="Classify every photo of the labelled folder with every image model, as the executor "
                    "does, and write which model is right on which photo (scenarios/simulation/correctness.json).")
    correctness.add_argument("--models", type=Path, default=Path("models"), help="built models folder")
    correctness.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled image folder")
    correctness.add_argument("--out", type=Path, default=DEFAULT_CORRECTNESS, help="the table to write (merged)")
    correctness.add_argument("--only", nargs="*", default=(), metavar="MODEL", help="these models only")
    correctness.set_defaults(func=_correctness)


def _correctness(args: argparse.Namespace) -> int:
    from faasml.simulation.correctness import measure

    try:
        table = measure(args.models, args.data, args.out, args.only,
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    except FileNotFoundError as exc:
        print(f"faasml bench correctness: {exc}", file=sys.stderr)
        return 2
    for model, row in table["models"].items():
        print(f"{model:>28} top-1 {row['top1']:.4f} on {row['photos']} photos (model {row['model_sha256']})")
    print(f"wrote {args.out}")
    return 0


def sim_settings_from(args: argparse.Namespace):
    from faasml.simulation.runner import SimSettings

    overrides = {
        "scenarios": args.scenarios, "policies": args.policies, "loads": args.loads, "selectors": args.selectors,
        "duration_s": args.duration, "capacity_per_s": args.capacity_per_s, "seeds": args.seeds,
        "capacity_concurrency": args.capacity_concurrency, "images": args.images, "seed": args.seed,
        "profiles": args.profiles, "selector_profiles": args.selector_profiles, "overheads": args.overheads,
        "correctness": args.correctness, "stack": args.stack, "out": args.out, "records": args.records,
        "bound": args.bound, "plots": args.plots,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.max_requests is not None:
        overrides["max_requests"] = args.max_requests or None
    return SimSettings(**overrides)


def _simulate(args: argparse.Namespace) -> int:
    from faasml.evaluation.scenario import ScenarioError
    from faasml.simulation.faults import FaultError
    from faasml.simulation.service import ProfileError
    from faasml.simulation.topology import TopologyError

    if args.validate:
        return _validate(args)
    if args.replot:
        from faasml.simulation.report import replot

        replot(args.replot)
        print(f"rewrote {args.replot / 'report.md'} and its plots")
        return 0
    from faasml.simulation.runner import check_inputs, run_simulation

    settings = sim_settings_from(args)
    problems = check_inputs(settings)
    if problems:
        print("faasml bench simulate: " + "; ".join(problems) + " (measure them: docs/simulation.md)", file=sys.stderr)
        return 2
    try:
        report = run_simulation(settings, argv=["faasml", "bench", "simulate"] + sys.argv[3:])
    except (ScenarioError, TopologyError, FaultError, ProfileError, KeyError, ValueError) as exc:
        print(f"faasml bench simulate: {exc}", file=sys.stderr)
        return 2
    out = Path(report["settings"]["out"] or "")
    print(f"report: {out / 'report.md'} ({report['wall_s']:.0f} s)")
    return 0


def validate_settings_from(args: argparse.Namespace):
    from faasml.simulation.validate import ValidateSettings

    overrides = {"scenarios": args.scenarios, "policies": args.policies, "loads": args.loads,
                 "duration_s": args.duration, "capacity_per_s": args.capacity_per_s, "seeds": args.seeds,
                 "idle_requests": args.idle_requests, "images": args.images, "seed": args.seed, "out": args.out,
                 "live": args.live, "correctness": args.correctness, "data": args.data,
                 "replay_others": args.replay_others}
    return ValidateSettings(**{k: v for k, v in overrides.items() if v is not None})


def _validate(args: argparse.Namespace) -> int:
    from faasml.evaluation.scenario import ScenarioError
    from faasml.launch import LaunchError
    from faasml.simulation.validate import run_validation

    try:
        run_validation(validate_settings_from(args), say=lambda line: print(line, file=sys.stderr, flush=True))
    except (ScenarioError, FileNotFoundError, ValueError, LaunchError) as exc:
        print(f"faasml bench simulate --validate: {exc}", file=sys.stderr)
        return 2
    return 0
