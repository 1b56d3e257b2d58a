"""Logic written once as steps, run blocking or on an event loop.

The selector serves the same request two ways: blocking (tests, in-process use, any
threaded server) and as a coroutine on the template's event loop. Its logic is written
once as a generator that yields each piece of I/O it needs and is sent the result;
`run_blocking` performs that I/O with a blocking call, `run_async` awaits it. A step
that fails or is cancelled closes the generator, so its `finally` blocks (giving back
an in-flight slot, leaving a hold queue) run either way.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Generator, TypeVar

Result = TypeVar("Result")
Steps = Generator[Any, Any, Result]


def run_blocking(steps: Steps[Result], perform: Callable[[Any], Any]) -> Result:
    try:
        need = next(steps)
        while True:
            need = steps.send(perform(need))
    except StopIteration as done:
        return done.value
    except BaseException:
        steps.close()
        raise


async def run_async(steps: Steps[Result], perform: Callable[[Any], Awaitable[Any]]) -> Result:
    try:
        need = next(steps)
        while True:
            need = steps.send(await perform(need))
    except StopIteration as done:
        return done.value
    except BaseException:  # cancelled with the client's connection, among others
        steps.close()
        raise
