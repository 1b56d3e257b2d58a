"""The selection engine: pure (no I/O, no threads, no clock), run unchanged behind the
selector's HTTP shell (faasml/selector/service.py) and inside the simulator.

  registry, variant   the snapshot of what exists and what it promises
  signals             load and latency state, updated by events (sent, answered, sampled)
  predict             queueing-aware prediction, kept per task as numpy columns
  verdicts, lanes     hard limits, health, admission, the fast lanes of tight deadlines
  policies            the rankings, one `rank` method each, chosen by name
  core                `Engine.decide`: the one decision path
  attempts, holds     the fallback plan and the hold book the shells carry out
  settings            the typed slices of SelectorConfig it runs with
"""
from faasml.selector.engine.core import NO_ROOM, Decision, Engine

__all__ = ["NO_ROOM", "Decision", "Engine"]
