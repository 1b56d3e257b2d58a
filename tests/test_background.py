"""Background loops that cannot die silently (faasml/background.py)."""
from __future__ import annotations

import asyncio

from faasml.background import Background


def test_a_failing_step_is_counted_and_the_loop_goes_on():
    steps = []

    async def step():
        steps.append(1)
        if len(steps) % 2:
            raise IndexError("a metrics line without a value")

    async def scenario():
        logged: list[str] = []
        background = Background("test", log=logged.append)
        task = background.loop("refresher", step, 0.01, pause_after_failure_s=0.01)
        await asyncio.sleep(0.3)
        health = background.health()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return background, health, logged
    background, health, logged = asyncio.run(scenario())
    state = health["tasks"]["refresher"]
    assert health["healthy"] and state["failures"] >= 3 and state["iterations"] >= 3
    assert state["last_error"] == "IndexError: a metrics line without a value" and len(logged) == 1
    metrics = "\n".join(line for family in background.metric_families() for line in family)
    assert f'faasml_background_failures_total{{task="refresher"}} {state["failures"]}' in metrics


def test_a_task_that_ends_shows_as_stopped():
    async def dies():
        raise RuntimeError("past every catch")

    async def scenario():
        background = Background("test", log=lambda text: None)
        task = background.watch("dispatcher", asyncio.get_running_loop().create_task(dies()))
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
        return background
    background = asyncio.run(scenario())
    assert background.stopped() == {"dispatcher": "died: RuntimeError: past every catch"}
    assert not background.health()["healthy"]
    metrics = "\n".join(line for family in background.metric_families() for line in family)
    assert 'faasml_background_up{task="dispatcher"} 0' in metrics
