"""A small parser for the Prometheus text exposition format (what `/metrics` serves).

Only samples are needed (`name{label="v",...} value [timestamp]`); HELP/TYPE lines and
comments are skipped. Label values may hold escaped quotes, backslashes and newlines.
"""
from __future__ import annotations

import math
import re
from typing import Iterator, NamedTuple

_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float


def _unescape(raw: str) -> str:
    return re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group(0)], raw)


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            raise ValueError(f"bad label set {text!r}")
        labels[match.group(1)] = _unescape(match.group(2))
        position = match.end()
    return labels


def _parse_value(raw: str) -> float:
    lowered = raw.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    return float(raw)


def parse_samples(text: str, names: set[str] | None = None) -> Iterator[Sample]:
    """Yield samples, only those whose name is in `names` when given."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            label_text, _, tail = rest.rpartition("}")
            labels = _parse_labels(label_text)
        else:
            name, _, tail = line.partition(" ")
            labels = {}
        name = name.strip()
        if names is not None and name not in names:
            continue
        value = tail.split()[0]
        yield Sample(name, labels, _parse_value(value))
