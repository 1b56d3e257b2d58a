"""What `faasml invoke` and `faasml status` print: tables with rich on a terminal (rich is
in the `test` and `evaluate` extras), aligned plain text without it or when piped."""
from __future__ import annotations

import math
import sys
from typing import Any, Sequence, TextIO

from faasml.tables import format_table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:g}"
    return str(value)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
                stream: TextIO | None = None, rich: bool | None = None) -> None:
    stream = stream or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    use_rich = stream.isatty() if rich is None else rich
    if use_rich:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            use_rich = False
    if use_rich:
        table = Table(title=title, title_justify="left")
        for name in header:
            table.add_column(name, overflow="fold")
        for row in cells:
            table.add_row(*row)
        Console(file=stream, width=max(100, Console(file=stream).width)).print(table)
        return
    stream.write(f"{title}\n{format_table(list(header), cells)}\n\n")


def answer_rows(result: Any) -> tuple[str, list[str], list[list[Any]]]:
    """The executor's answer as a table: top predictions, an embedding's shape, else JSON."""
    if isinstance(result, dict) and isinstance(result.get("predictions"), list):
        rows = [[p.get("label"), p.get("index"), p.get("score")] for p in result["predictions"]
                if isinstance(p, dict)]
        return "answer", ["label", "index", "score"], rows
    vectors = _embeddings(result)
    if vectors is not None:
        # A 384-float vector is not read, it is checked: its size, its length (1 when
        # normalized) and where it starts, one row per input.
        truncated = result.get("truncated")
        truncated = truncated if isinstance(truncated, list) else [truncated] * len(vectors)
        rows = [[i, len(v), math.sqrt(sum(x * x for x in v)), cut, _first_values(v)]
                for i, (v, cut) in enumerate(zip(vectors, truncated + [None] * len(vectors)))]
        title = f"answer: {len(rows)} embedding{'s' if len(rows) != 1 else ''}"
        if result.get("variant"):
            title += f" from {result['variant']}"
        return title, ["input", "dimension", "norm", "truncated", "first values"], rows
    if isinstance(result, dict):
        return "answer", ["field", "value"], [[k, v] for k, v in result.items()]
    text = result.decode("utf-8", "replace") if isinstance(result, bytes) else str(result)
    return "answer", ["body"], [[text[:2000]]]


FIRST_VALUES = 4


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, (int, float)) for x in value)


def _embeddings(result: Any) -> list[list[float]] | None:
    """The vectors of an executor's embedding answer: `embedding` for one sentence,
    `embeddings` for a list of them (docs/api.md); None for any other answer."""
    if not isinstance(result, dict):
        return None
    if _is_vector(result.get("embedding")):
        return [result["embedding"]]
    many = result.get("embeddings")
    if isinstance(many, list) and all(_is_vector(v) for v in many):
        return many
    return None


def _first_values(vector: list[float]) -> str:
    shown = ", ".join(f"{x:.4f}" for x in vector[:FIRST_VALUES])
    return f"[{shown}, ...]" if len(vector) > FIRST_VALUES else f"[{shown}]"


CANDIDATE_COLUMNS = (("rank", "rank"), ("variant", "variant"), ("node", "node_class"),
                     ("precision", "precision"), ("accuracy", "accuracy"),
                     ("predicted ms", "predicted_latency_ms"), ("queue ms", "queue_ms"),
                     ("in flight", "inflight"), ("score", "score"), ("excluded", "excluded"))


def candidate_rows(table: dict[str, Any]) -> list[list[Any]]:
    return [[row.get(key) for _, key in CANDIDATE_COLUMNS] for row in table.get("candidates", [])]
