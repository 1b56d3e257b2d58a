"""Restart delays for crashed replicas: exponential, reset after a healthy stretch."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RestartBackoff:
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    # A replica that ran this long before dying is treated as a fresh failure, not a loop.
    healthy_after_s: float = 30.0
    _next_s: float = 0.0

    def delay_after_exit(self, uptime_s: float) -> float:
        if uptime_s >= self.healthy_after_s or self._next_s == 0.0:
            self._next_s = self.initial_s
        delay = self._next_s
        self._next_s = min(self._next_s * self.factor, self.max_s)
        return delay
