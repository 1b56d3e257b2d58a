"""`faasml conformance`: argument parsing only; the work is in faasml.conformance.certifier."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    conformance = subparsers.add_parser(
        "conformance", help="run OpenFaaS's provider conformance suite (certifier.test) against "
                            "`faasml up --containers podman --empty`")
    conformance.add_argument("--run", default=None, metavar="REGEX",
                             help="only the suite's tests matching REGEX (its -test.run)")
    conformance.add_argument("--dir", type=Path, default=None,
                             help="work folder: the provider's state, log and faas-cli login "
                                  "(default: a temporary folder, removed afterwards)")
    conformance.add_argument("--idler", action="store_true",
                             help="also run Test_ScaleToZero (the suite's idler_enabled=true; "
                                  "see docs/runtime.md#conformance for why it is off)")
    conformance.add_argument("--quiet", action="store_true", help="print the summary only, not the suite's output")
    conformance.set_defaults(func=_conformance)


def _conformance(args: argparse.Namespace) -> int:
    from faasml.conformance.certifier import run_conformance

    extra_env = {"idler_enabled": "true"} if args.idler else None
    echo = None if args.quiet else print
    with tempfile.TemporaryDirectory(prefix="faasml-conformance-") as scratch:
        work = (args.dir or Path(scratch)).resolve()
        try:
            result, left = run_conformance(work, args.run, extra_env, echo=echo)
        except RuntimeError as exc:
            print(f"faasml conformance: {exc}")
            return 2
    print(result.summary())
    if left:
        print(f"faasml conformance: {len(left)} container(s) left behind: {' '.join(left)}")
    return 0 if result.passed and not left else 1
