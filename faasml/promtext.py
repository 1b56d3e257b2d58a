"""A small parser for the Prometheus text exposition format (what `/metrics` serves).

Only samples are needed (`name{label="v",...} value [timestamp]`); HELP/TYPE lines and
comments are skipped. Label values may hold escaped quotes, backslashes and newlines.

A line that is not a sample (no value, a value that is not a number, a broken label set)
is skipped, never raised: one odd line from a gateway must not cost its reader every
other sample, nor stop a loop that reads /metrics. Each one is counted (`skipped_lines`,
for a metric) and logged, the first and then every 100th.
"""
from __future__ import annotations

import logging
import math
import re
from typing import Iterator, NamedTuple

_log = logging.getLogger("faasml.promtext")
_skipped = 0


def skipped_lines() -> int:
    """Lines this process skipped as not samples, so far (faasml_promtext_skipped_lines_total)."""
    return _skipped


def _skip(line: str, why: Exception) -> None:
    global _skipped
    _skipped += 1
    if _skipped == 1 or _skipped % 100 == 0:
        _log.warning("skipped %d metrics line(s) that are not samples; the latest: %r (%s)",
                     _skipped, line[:200], why)

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
    """Yield samples, only those whose name is in `names` when given; skip (and count) any
    line that is not one."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            sample = _parse_line(line, names)
        except (ValueError, IndexError) as exc:
            _skip(line, exc)
            continue
        if sample is not None:
            yield sample


def _parse_line(line: str, names: set[str] | None) -> Sample | None:
    if "{" in line:
        name, rest = line.split("{", 1)
        label_text, closed, tail = rest.rpartition("}")
        if not closed:
            raise ValueError("a label set without its closing brace")
    else:
        name, _, tail = line.partition(" ")
        label_text = ""
    name = name.strip()
    if names is not None and name not in names:
        return None
    labels = _parse_labels(label_text) if label_text else {}
    value = tail.split()[0]   # IndexError: a sample without a value
    return Sample(name, labels, _parse_value(value))
