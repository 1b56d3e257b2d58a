"""The selector's background work as supervised asyncio tasks on its one event loop.

Each task is a loop of rounds (list the registry, sample the load, probe stalled
variants). A round that raises is logged and counted, and the loop goes on: no single odd
answer from a gateway can stop a refresher. A task that ends anyway (cancelled, or a bug
outside its rounds) is visible: `health()` names it, and the selector's /health and
/ready answer 503 while one is down. The failures are a metric
(`faasml_selector_background_failures_total{task}`).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from faasml import promtext
from faasml.prometheus import family, render

log = logging.getLogger(__name__)

FAILURES = "faasml_selector_background_failures_total"
ROUNDS = "faasml_selector_background_rounds_total"
SKIPPED_LINES = "faasml_selector_metrics_lines_skipped_total"


@dataclass
class TaskRecord:
    name: str
    rounds: int = 0
    failures: int = 0
    last_error: str | None = None
    last_ok_at: float | None = None
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()


class Background:
    """The supervised tasks of one selector."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.records: dict[str, TaskRecord] = {}

    def start(self, name: str, round_: Callable[[], Awaitable[float]]) -> None:
        """Run `round_` again and again; it returns how long to wait before the next round
        (it may wait on its own wake-up inside that time)."""
        record = self.records.get(name)
        if record is not None and record.alive:
            return
        record = self.records[name] = TaskRecord(name)
        record.task = asyncio.get_running_loop().create_task(self._run(record, round_), name=f"faasml-{name}")

    async def _run(self, record: TaskRecord, round_: Callable[[], Awaitable[float]]) -> None:
        while True:
            pause = 1.0
            try:
                pause = await round_()
                record.last_ok_at = self.clock()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad round must never end the task
                record.failures += 1
                if record.last_error is None or record.failures in (1, 10, 100) or record.failures % 1000 == 0:
                    log.warning("selector %s: round failed (%d so far): %s: %s", record.name, record.failures,
                                type(exc).__name__, exc)
                record.last_error = f"{type(exc).__name__}: {exc}"
            record.rounds += 1
            if pause > 0:
                await asyncio.sleep(pause)

    async def stop(self) -> None:
        """Cancel every task and wait until they have ended. Cancelled again until they
        do: a cancellation that lands just as an inner wait completes can be lost
        (asyncio.wait_for before Python 3.12), and the task would sleep on."""
        pending = {r.task for r in self.records.values() if r.task is not None and not r.task.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)

    def health(self) -> dict[str, Any]:
        """Every task: alive or not, rounds, failures, the last error and the last good round."""
        now = self.clock()
        return {name: {"alive": r.alive, "rounds": r.rounds, "failures": r.failures, "last_error": r.last_error,
                       "last_ok_s_ago": None if r.last_ok_at is None else round(now - r.last_ok_at, 3)}
                for name, r in sorted(self.records.items())}

    def dead(self) -> list[str]:
        return sorted(name for name, r in self.records.items() if not r.alive)

    def render(self) -> str:
        records = sorted(self.records.items())
        return render([
            family(FAILURES, "counter", "background rounds that raised, by task",
                   [((("task", name),), r.failures) for name, r in records]),
            family(ROUNDS, "counter", "background rounds run, by task",
                   [((("task", name),), r.rounds) for name, r in records]),
            family(SKIPPED_LINES, "counter", "lines of the gateways' /metrics the load sampling could not read "
                   "(skipped, the rest read)", [((), promtext.skipped_lines())]),
        ])
