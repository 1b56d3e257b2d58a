"""The build's progress display: numbered steps, phases, elapsed time; TTY vs plain lines."""
from __future__ import annotations

import io

import pytest

from faasml.models.progress import Progress


class ScriptedClock:
    def __init__(self, *times: float):
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    progress = Progress(10, stream=out, tty=False, clock=ScriptedClock(100.0, 112.3, 115.0))
    progress.index = 2
    with progress.step("efficientnet-lite1-int8") as step:
        step.phase("calibrating (8 images)")
        step.summary = "6.0 MB"
    assert out.getvalue().splitlines() == [
        "[3/10] efficientnet-lite1-int8: calibrating (8 images)\u2026 12.3s",
        "[3/10] efficientnet-lite1-int8: done in 15.0s (6.0 MB)",
    ]
    assert "\r" not in out.getvalue()


def test_terminal_redraws_in_place():
    out = io.StringIO()
    progress = Progress(2, stream=out, tty=True, clock=ScriptedClock(0.0, 1.5, 2.0),
                        refresh_s=60)
    with progress.step("minilm-l6-fp32") as step:
        step.phase("exporting")
    text = out.getvalue()
    assert text.startswith("\r\x1b[K[1/2] minilm-l6-fp32: exporting\u2026 1.5s")
    assert text.endswith("\r\x1b[K[1/2] minilm-l6-fp32: done in 2.0s\n")
    assert text.count("\n") == 1  # one finished line per step, no scrolling


def test_failed_step_says_so():
    out = io.StringIO()
    progress = Progress(1, stream=out, tty=False, clock=ScriptedClock(0.0, 4.0))
    with pytest.raises(ValueError):
        with progress.step("x"):
            raise ValueError("boom")
    assert out.getvalue() == "[1/1] x: failed in 4.0s\n"


def test_ascii_log_gets_plain_dots_instead_of_crashing():
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    progress = Progress(1, stream=out, tty=False, clock=ScriptedClock(0.0, 1.0, 2.0))
    with progress.step("x") as step:
        step.phase("exporting")
    out.flush()
    assert raw.getvalue().decode("ascii").splitlines()[0] == "[1/1] x: exporting... 1.0s"
