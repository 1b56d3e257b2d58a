"""Choosing the replica that serves a request: least in flight among the ready ones.

Ties rotate, so equally idle replicas share sequential traffic instead of the first one
taking it all.
"""
from __future__ import annotations

from typing import Protocol, Sequence, TypeVar


class Routable(Protocol):
    in_flight: int

    @property
    def routable(self) -> bool: ...


R = TypeVar("R", bound=Routable)


class LeastInFlight:
    def __init__(self) -> None:
        self._turn = 0

    def choose(self, replicas: Sequence[R]) -> R | None:
        count = len(replicas)
        best: R | None = None
        self._turn = (self._turn + 1) % max(count, 1)
        for offset in range(count):
            replica = replicas[(self._turn + offset) % count]
            if replica.routable and (best is None or replica.in_flight < best.in_flight):
                best = replica
        return best
