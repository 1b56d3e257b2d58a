"""The body of `faasml profile`: discover, measure, write, and show what to paste."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from faasml.models.progress import Progress
from faasml.selector.config import SelectorConfig, parse_gateways
from faasml.profiling.gateway import ProfileGateway, list_registry
from faasml.profiling.measure import ProfileSettings, profile_variant, sample_input, where_measured
from faasml.selector.profiles import save_profiles
from faasml.settings import ConfigError, load


def _inputs(specs: list[str]) -> dict[str, tuple[list[bytes], str]]:
    """TASK=FILE: that input every time; TASK=FOLDER: its files in turn (sorted), so the
    compute-time samples span real inputs (a photo's size moves its decode time)."""
    inputs = {}
    for spec in specs:
        task, _, path = spec.partition("=")
        folder = Path(path)
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if folder.is_dir() else [folder]
        inputs[task] = ([f.read_bytes() for f in files], "application/octet-stream")
    return inputs


def run_profile(args: argparse.Namespace) -> int:
    # The gateways and their credentials as the selector would read them; --gateway wins.
    try:
        given = {"gateways": parse_gateways(args.gateway)} if args.gateway else {}
    except ValueError as exc:
        raise ConfigError(f"--gateway={args.gateway!r}: {exc}") from None
    config = load(SelectorConfig, **given)
    clients = [ProfileGateway(endpoint) for endpoint in config.endpoints()]
    snapshot = list_registry(clients)
    for problem in snapshot.problems:
        print(f"warning: {problem}")
    variants = [v for v in snapshot.variants if (not args.task or v.task == args.task)
                and (not args.variant or v.name in args.variant)]
    if not variants:
        print("no variant to profile (is the gateway up, and the password set?)")
        return 1
    by_url = {c.endpoint.url: c for c in clients}
    inputs = _inputs(args.input)
    settings = ProfileSettings(requests=args.requests, step_s=args.step)
    measured = {}
    # Each variant takes tens of seconds (sequential requests, then a concurrency sweep):
    # a numbered step with its elapsed time on stderr says where it is; the table stays on stdout.
    progress = Progress(len(variants))
    print(f"{'variant':>28} {'p50 ms':>8} {'p95':>8} {'p99':>8} {'compute':>8} {'overhead':>8} {'sat rps':>8}")
    for variant in variants:
        if variant.available_replicas < 1:
            why = "no node can run it" if not variant.schedulable else "no ready replica"
            print(f"{variant.id:>28} skipped: {why}")
            continue
        given = inputs.get(variant.task)
        sample = given or sample_input(variant.task)
        if sample is None:
            print(f"{variant.id:>28} skipped: no sample input for task {variant.task} (use --input)")
            continue
        with progress.step(variant.id) as step:
            step.phase(f"{settings.requests} sequential requests, then concurrency "
                       f"{'/'.join(map(str, settings.concurrency))}")
            figures = profile_variant(by_url[variant.gateway], variant, sample[0], sample[1], settings)
        measured[variant.name] = figures
        latency = figures["latency_ms"]
        print(f"{variant.id:>28} {latency['p50']:>8.2f} {latency['p95']:>8.2f} {latency['p99']:>8.2f} "
              f"{figures['compute_ms']:>8.2f} {figures['overhead_ms']:>8.2f} {figures['saturation_rps']:>8.1f}")
    header = {"measured_on": where_measured(),
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              # other work on the machine inflates wall times: say how busy it was
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "method": (f"faasml profile: {settings.requests} sequential requests per variant through "
                         f"the gateway after {settings.warmup} warm-up; compute = X-Faasml-Compute-Ms; "
                         f"saturation = best requests/s over concurrency {list(settings.concurrency)}")}
    save_profiles(args.out, header, measured)
    print(f"wrote {len(measured)} profile(s) to {args.out} (measured on {header['measured_on']})")
    print("stack.yml annotations (faasml.io/latency-ms = compute p50 on its node class):")
    for name, figures in measured.items():
        print(f"  {name}: faasml.io/latency-ms: \"{figures['compute_ms']:g}\"")
    return 0
