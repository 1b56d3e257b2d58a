"""What the `faasml models` commands print: errors and plain-text tables."""
from __future__ import annotations

import sys


def fail(message: str) -> int:
    print(f"faasml models: error: {message}", file=sys.stderr)
    return 2


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)
