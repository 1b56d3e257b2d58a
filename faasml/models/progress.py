"""Progress display for long builds: numbered steps with elapsed time.

`[3/10] efficientnet-lite1-int8: calibrating (8 images)… 12.3s`

On a terminal one line per step is redrawn in place (`\\r`) by a ticker thread, so the
elapsed time keeps moving during a 20-second quantization; elsewhere (CI logs, pipes) each
phase is one plain line, because carriage returns turn a log file into noise.
"""
from __future__ import annotations

import shutil
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

ELLIPSIS = "\u2026"


class Progress:
    """Numbered steps, each with a changing phase text and its elapsed time."""

    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, refresh_s: float = 0.2):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.refresh_s = refresh_s
        self.index = 0
        self._lock = threading.Lock()
        self._label = ""
        self._phase = ""
        self._started = 0.0
        self.summary = ""  # set by the caller during a step; shown on its "done" line
        self.ellipsis = ELLIPSIS if _can_encode(self.stream, ELLIPSIS) else "..."

    def _prefix(self) -> str:
        return f"[{self.index}/{self.total}] {self._label}"

    def _elapsed(self) -> float:
        return self.clock() - self._started

    def _draw(self) -> None:
        with self._lock:
            line = f"{self._prefix()}: {self._phase}{self.ellipsis} {self._elapsed():.1f}s"
            # A line wider than the terminal wraps, and \r would then redraw only its tail.
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r\x1b[K" + line[:width])
            self.stream.flush()

    def phase(self, text: str) -> None:
        """Say what the current step is doing now (e.g. "exporting", "calibrating (8 images)")."""
        self._phase = text
        if self.tty:
            self._draw()
        else:
            self.stream.write(f"{self._prefix()}: {text}{self.ellipsis} {self._elapsed():.1f}s\n")
            self.stream.flush()

    @contextmanager
    def step(self, label: str) -> Iterator["Progress"]:
        """One numbered step; the final line says done (with a summary) or failed."""
        self.index += 1
        self._label, self._phase, self._started = label, "starting", self.clock()
        stop = threading.Event()
        ticker = None
        if self.tty:
            ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True)
            ticker.start()
        outcome = "failed"
        try:
            yield self
            outcome = "done"
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            self._finish(outcome)

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_s):
            self._draw()

    def _finish(self, outcome: str) -> None:
        summary = f" ({self.summary})" if outcome == "done" and self.summary else ""
        line = f"{self._prefix()}: {outcome} in {self._elapsed():.1f}s{summary}"
        self.summary = ""
        with self._lock:
            self.stream.write(("\r\x1b[K" if self.tty else "") + line + "\n")
            self.stream.flush()


def _can_encode(stream: TextIO, text: str) -> bool:
    """A CI log opened as ASCII must not crash the build over a typographic ellipsis."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
