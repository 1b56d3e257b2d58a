"""Settings declared once: each component's settings are one dataclass whose fields name
their environment variable, default, parser and meaning (`setting(...)`).

`load(cls)` reads every field at start and validates it with its parser; a bad value is a
`ConfigError` naming the variable. A `ConfigError` is the operator's mistake, not a
client's: it is no HTTP error, and it stops the process with one line (`load_or_exit`)
instead of failing every request. A setting may also be a command-line flag (`faasml up
--port`): `add_flags` derives the flag from the same declaration.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")
Parser = Callable[[str], Any]


class ConfigError(Exception):
    """A setting is missing or malformed: the process cannot start. Not an HTTP error."""


def setting(env: str | tuple[str, ...], default: Any = dataclasses.MISSING, parse: Parser = str,
            doc: str = "", flag: str | None = None, secret: bool = False) -> Any:
    """A settings field read from `env` (the first of several names that is set wins); a
    `secret` one is left out of the settings' repr."""
    names = (env,) if isinstance(env, str) else tuple(env)
    return dataclasses.field(default=default, repr=not secret,
                             metadata={"env": names, "parse": parse, "doc": doc, "flag": flag})


def load(cls: type[T], env: Mapping[str, str] | None = None,
         flags: Mapping[str, Any] | None = None, **given: Any) -> T:
    """`cls` with each setting from its flag, else its environment variable, else its
    default; `given` fields are taken as they are. Empty values count as unset."""
    env = os.environ if env is None else env
    values = dict(given)
    for field in dataclasses.fields(cls):
        if "env" not in field.metadata or field.name in values:
            continue
        source, raw = _raw_value(field, env, flags or {})
        if raw is None:
            if field.default is dataclasses.MISSING:
                raise ConfigError(f"{source} is not set: {field.metadata['doc']}")
            continue
        try:
            values[field.name] = field.metadata["parse"](raw)
        except ValueError as exc:
            raise ConfigError(f"{source}={raw!r}: {exc}") from None
    return cls(**values)


def load_or_exit(cls: type[T], component: str, env: Mapping[str, str] | None = None,
                 **given: Any) -> T:
    """`load` for a process's start: a bad setting ends the process with one line."""
    try:
        return load(cls, env, **given)
    except ConfigError as exc:
        print(f"{component}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _raw_value(field: dataclasses.Field, env: Mapping[str, str],
               flags: Mapping[str, Any]) -> tuple[str, str | None]:
    flag = field.metadata["flag"]
    if flag and flags.get(field.name) is not None:
        return flag, str(flags[field.name])
    for name in field.metadata["env"]:
        raw = env.get(name, "").strip()
        if raw:
            return name, raw
    return field.metadata["env"][0], None


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per flagged setting; its value is parsed (and judged) by `load`."""
    for field in dataclasses.fields(cls):
        flag = field.metadata.get("flag")
        if flag:
            parser.add_argument(flag, dest=field.name, default=None, metavar="VALUE",
                                help=f"{field.metadata['doc']} (default {field.default}; "
                                     f"env {field.metadata['env'][0]})")


def declared(cls: type) -> dict[str, tuple[str, ...]]:
    """Field name -> the environment variables it is read from."""
    return {f.name: f.metadata["env"] for f in dataclasses.fields(cls) if "env" in f.metadata}


# parsers: each takes the raw text and raises ValueError with what is wrong ---------------

def whole_number(minimum: int = 0) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("not a whole number") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value
    return parse


def number(minimum: float = 0.0, *, positive: bool = False) -> Parser:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be finite")
        if value < minimum or (positive and value <= 0):
            raise ValueError(f"must be {'above' if positive else 'at least'} {minimum:g}")
        return value
    return parse


def one_of(*choices: str) -> Parser:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return parse


def http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("not an http(s) URL")
    return raw.rstrip("/")


def existing_file(raw: str) -> str:
    if not Path(raw).is_file():
        raise ValueError(f"no such file (relative to {Path.cwd()})")
    return raw
