"""`faasml ...`: a thin command line over the library.

Each package contributes its own commands through a `commands` module with
`register(subparsers)`; `faasml bench <name>` are all registered by faasml.bench.commands
(the serving packages import no benchmark). Nothing heavy is imported until a command runs.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from faasml.cli_examples import add_examples
from faasml.settings import ConfigError

# Packages whose `commands` module adds subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "faasml.bench.commands",
    "faasml.models.commands",
    "faasml.executor.commands",
    "faasml.runtime.commands",
    "faasml.conformance.commands",
    "faasml.images.commands",
    "faasml.profiling.commands",
    "faasml.client.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faasml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    add_examples(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from faasml import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # a bad setting or flag: one line, not a traceback
        print(f"faasml {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
