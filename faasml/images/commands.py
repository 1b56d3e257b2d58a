"""`faasml images build` and `faasml bench images`: argument parsing only; the work is in
faasml.images.build and faasml.images.coldstart."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    images = subparsers.add_parser("images", help="function images: built by the stock faas-cli on podman")
    sub = images.add_subparsers(dest="images", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build the stack's CPU function images (`make images`)")
    build.add_argument("-f", "--yaml", dest="stack", type=Path, default=Path("stack.yml"))
    build.add_argument("--filter", dest="only", action="append", default=[], metavar="NAME",
                       help="build only this function (repeatable; default: every CPU function)")
    build.add_argument("--platform", default=None, metavar="linux/ARCH[,...]",
                       help="linux/amd64 and/or linux/arm64 (default: this machine's); another "
                       "architecture's images run its code under qemu (binfmt_misc) and get it "
                       "appended to their tag, e.g. :0.1.0-arm64")
    build.add_argument("--json", dest="json_out", type=Path, default=None,
                       help="also write build seconds and sizes to this JSON file")
    build.set_defaults(func=_build)


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    bench = bench_subparsers.add_parser(
        "images", help="image sizes and cold start (container start -> ready) per function image")
    bench.add_argument("-f", "--yaml", dest="stack", type=Path, default=Path("stack.yml"))
    bench.add_argument("--filter", dest="only", action="append", default=[], metavar="NAME")
    bench.add_argument("--runs", type=int, default=5, help="cold starts per image (default 5)")
    bench.add_argument("--platform", default=None, metavar="linux/ARCH",
                       help="the images built for this platform (default: this machine's); cold "
                       "starts under emulation are not performance figures")
    bench.add_argument("--json", dest="json_out", type=Path, default=None)
    bench.set_defaults(func=_bench)


def _conf_dir(stack: Path) -> Path:
    return stack.resolve().parent / ".faasml" / "podman"


def _build(args: argparse.Namespace) -> int:
    from faasml.images.build import build_images, cpu_functions
    from faasml.images.engine import EngineError
    from faasml.images.platforms import PlatformError, parse_platforms

    built = []
    try:
        for arch in parse_platforms(args.platform):
            built += build_images(args.stack, args.only or cpu_functions(args.stack), _conf_dir(args.stack),
                                  arch=arch)
    except (EngineError, PlatformError) as exc:
        print(f"faasml images build: {exc}")
        return 2
    print(f"{'function':28} {'arch':6} {'image':66} {'build s':>8} {'MB':>6}")
    for image in built:
        print(f"{image.function:28} {image.arch:6} {image.image:66} {image.build_s:8.1f} "
              f"{image.size_bytes / 1e6:6.0f}")
    if args.json_out:
        args.json_out.write_text(json.dumps([vars(i) for i in built], indent=2) + "\n")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from faasml.images.build import cpu_functions
    from faasml.images.coldstart import measure_images
    from faasml.images.engine import EngineError
    from faasml.images.platforms import PlatformError, host_arch, parse_platforms

    try:
        arches = parse_platforms(args.platform)
        if len(arches) != 1:
            raise PlatformError("one platform at a time")
        rows = measure_images(args.stack, args.only or cpu_functions(args.stack), args.runs,
                              _conf_dir(args.stack), arch=arches[0])
    except (EngineError, PlatformError) as exc:
        print(f"faasml bench images: {exc}")
        return 2
    if arches[0] != host_arch():
        print(f"{arches[0]} under emulation (qemu): cold starts here are not performance figures")
    print(f"{'function':28} {'MB':>6} {'layers':>6} {'model MB':>9} {'cold start s: median':>21} {'min':>6} {'max':>6}")
    for row in rows:
        print(f"{row['function']:28} {row['size_mb']:6.0f} {row['layers']:6d} {row['model_mb']:9.1f} "
              f"{row['cold_start_s']['median']:21.2f} {row['cold_start_s']['min']:6.2f} "
              f"{row['cold_start_s']['max']:6.2f}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0
