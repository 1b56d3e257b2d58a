"""Long-lived background work that cannot die silently.

Each loop of a process is registered here by name. A step that raises is caught, logged
(the first time, then every 100th, so a stuck loop cannot flood the log) and counted in
`faasml_background_failures_total{task}`, and the loop goes on after a pause; a loop that
ends anyway (a bug past the catch, a cancellation nobody asked for) shows as stopped in
`faasml_background_up{task}` and in the process's health answer (`/healthz` of `faasml
up` answers 503 naming it), never as a silent gap.
"""
from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from faasml.prometheus import family


@dataclass
class TaskState:
    iterations: int = 0
    failures: int = 0
    last_error: str | None = None
    last_failure_at: float | None = None
    stopped: str | None = None          # why it ended, once it has
    task: Any = field(default=None, repr=False)


class Background:
    def __init__(self, component: str = "faasml", log: Callable[[str], None] | None = None):
        self.component = component
        self.tasks: dict[str, TaskState] = {}
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))

    def failed(self, name: str, exc: BaseException) -> None:
        """Count (and log) one failed iteration of `name`."""
        state = self.tasks.setdefault(name, TaskState())
        state.failures += 1
        state.last_error = f"{type(exc).__name__}: {exc}"[:300]
        state.last_failure_at = time.time()
        if state.failures == 1 or state.failures % 100 == 0:
            self._log(f"[{self.component}] background task {name}: iteration failed ({state.failures} so far): "
                      f"{state.last_error}")

    def succeeded(self, name: str) -> None:
        self.tasks.setdefault(name, TaskState()).iterations += 1

    def loop(self, name: str, step: Callable[[], Awaitable[Any]], interval_s: float,
             pause_after_failure_s: float | None = None) -> asyncio.Task:
        """Run `step` every `interval_s` on the running loop until cancelled."""
        async def run() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.failed(name, exc)
                    await asyncio.sleep(pause_after_failure_s if pause_after_failure_s is not None else interval_s)
                else:
                    self.succeeded(name)
        return self.watch(name, asyncio.get_running_loop().create_task(run(), name=name))

    def watch(self, name: str, task: asyncio.Task) -> asyncio.Task:
        """Register a task that runs its own loop: its end shows as stopped."""
        state = self.tasks.setdefault(name, TaskState())
        state.task, state.stopped = task, None

        def ended(done: asyncio.Task) -> None:
            if done.cancelled():
                state.stopped = "cancelled"
            elif done.exception() is not None:
                state.stopped = f"died: {type(done.exception()).__name__}: {done.exception()}"[:300]
                self._log(f"[{self.component}] background task {name} {state.stopped}")
            else:
                state.stopped = "returned"
        task.add_done_callback(ended)
        return task

    def stopped(self) -> dict[str, str]:
        return {name: state.stopped for name, state in self.tasks.items() if state.stopped}

    def health(self) -> dict[str, Any]:
        return {"healthy": not self.stopped(), "tasks": {
            name: {"running": state.stopped is None, "stopped": state.stopped, "iterations": state.iterations,
                   "failures": state.failures, "last_error": state.last_error}
            for name, state in sorted(self.tasks.items())}}

    def metric_families(self) -> list[list[str]]:
        from faasml import promtext

        names = sorted(self.tasks)
        return [
            family("faasml_promtext_skipped_lines_total", "counter",
                   "Lines of a scraped /metrics text skipped as not samples (each logged, none fatal)",
                   [((), promtext.skipped_lines())]),
            family("faasml_background_failures_total", "counter",
                   "Failed iterations of a long-lived background task (each caught, logged, retried)",
                   [((("task", n),), self.tasks[n].failures) for n in names]),
            family("faasml_background_up", "gauge", "1 while a long-lived background task runs, 0 once it stopped",
                   [((("task", n),), 0 if self.tasks[n].stopped else 1) for n in names]),
        ]
