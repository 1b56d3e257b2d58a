"""Progress while an evaluation runs: rich progress bars on a terminal, plain lines elsewhere.

Bars: one for the whole run (cells done of all cells, elapsed, estimate left) and one for
the cell in progress (requests answered of its trace). Without a terminal (CI, pipes)
every phase and every finished cell is one plain line, with the time since the start.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Reporter:
    def __init__(self, total_cells: int, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = total_cells
        self.done = 0
        self.t0 = time.monotonic()
        self._progress = None
        self._overall = None
        self._cell = None
        if self.tty:
            try:
                from rich.console import Console
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                           TimeElapsedColumn, TimeRemainingColumn)
            except ImportError:
                self.tty = False
            else:
                self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TimeElapsedColumn(), TimeRemainingColumn(),
                                          console=Console(file=self.stream), transient=False)
                self._progress.start()
                self._overall = self._progress.add_task("evaluation", total=total_cells)

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self.t0:7.1f}s]"

    def say(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(f"{self._stamp()} {text}\n")
            self.stream.flush()

    def cell_start(self, label: str, requests: int) -> None:
        if self._progress is not None:
            if self._cell is not None:
                self._progress.remove_task(self._cell)
            self._cell = self._progress.add_task(label, total=requests)
        else:
            self.say(f"[{self.done + 1}/{self.total}] {label}: {requests} requests")

    def cell_event(self, kind: str) -> None:
        if self._progress is not None and self._cell is not None and kind == "done":
            self._progress.advance(self._cell)

    def cell_done(self, summary: str) -> None:
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._overall, completed=self.done)
            if self._cell is not None:
                self._progress.remove_task(self._cell)
                self._cell = None
        self.say(f"[{self.done}/{self.total}] {summary}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
