"""What the `faasml models` commands print: errors (tables: faasml/tables.py)."""
from __future__ import annotations

import sys


def fail(message: str) -> int:
    print(f"faasml models: error: {message}", file=sys.stderr)
    return 2
