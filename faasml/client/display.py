"""What `faasml invoke` and `faasml status` print: tables with rich on a terminal (rich is
in the `test` and `evaluate` extras), aligned plain text without it or when piped."""
from __future__ import annotations

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
    if isinstance(result, dict) and isinstance(result.get("embeddings"), list):
        rows = [[i, len(v), ", ".join(f"{x:.4f}" for x in v[:4]) + ", ..."]
                for i, v in enumerate(result["embeddings"]) if isinstance(v, list)]
        return "answer", ["input", "dims", "first values"], rows
    if isinstance(result, dict):
        return "answer", ["field", "value"], [[k, v] for k, v in result.items()]
    text = result.decode("utf-8", "replace") if isinstance(result, bytes) else str(result)
    return "answer", ["body"], [[text[:2000]]]


CANDIDATE_COLUMNS = (("rank", "rank"), ("variant", "variant"), ("node", "node_class"),
                     ("precision", "precision"), ("accuracy", "accuracy"),
                     ("predicted ms", "predicted_latency_ms"), ("queue ms", "queue_ms"),
                     ("in flight", "inflight"), ("score", "score"), ("excluded", "excluded"))


def candidate_rows(table: dict[str, Any]) -> list[list[Any]]:
    return [[row.get(key) for _, key in CANDIDATE_COLUMNS] for row in table.get("candidates", [])]
