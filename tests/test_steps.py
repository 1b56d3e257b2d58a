"""Steps written once run the same blocking and on an event loop, and a failed step
still runs the generator's `finally`."""
from __future__ import annotations

import asyncio

import pytest

from faasml.steps import run_async, run_blocking


def doubling(log: list[str]):
    try:
        first = yield 1
        second = yield first + 1
        return first + second
    finally:
        log.append("closed")


def test_both_runners_send_each_result_back_and_return_the_value():
    log: list[str] = []
    assert run_blocking(doubling(log), lambda n: n * 10) == 10 + 110

    async def times_ten(n: int) -> int:
        await asyncio.sleep(0)
        return n * 10

    assert asyncio.run(run_async(doubling(log), times_ten)) == 120
    assert log == ["closed", "closed"]


def test_a_failing_step_closes_the_steps():
    log: list[str] = []

    def fail(_: int) -> int:
        raise OSError("gone")

    with pytest.raises(OSError):
        run_blocking(doubling(log), fail)
    assert log == ["closed"]

    async def cancelled(_: int) -> int:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run_async(doubling(log), cancelled))
    assert log == ["closed", "closed"]
