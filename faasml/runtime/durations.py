"""Go-style durations ("30s", "1m30s", "500ms", or bare seconds), as of-watchdog reads them."""
from __future__ import annotations

import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration_seconds(text: str) -> float:
    """Seconds in `text`; raises ValueError for anything of-watchdog would reject."""
    text = str(text).strip()
    try:
        return float(text)  # a bare number: of-watchdog reads it as seconds
    except ValueError:
        pass
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 1m30s, 500ms)")
    return total
