"""The engine's settings: typed slices of `SelectorConfig` (faasml/selector/config.py, the
one place they are declared, with their environment variables and defaults). Nothing here
has a default of its own: the shell builds these from its config, the simulator from the
same declaration (`SelectorConfig().engine()`), so the two can never drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignalSettings:
    observed_max_age_s: float      # own observations older than this are ignored
    gateway_max_age_s: float       # gateway load older than this is ignored
    cooldown_s: float              # a variant that failed is skipped this long


@dataclass(frozen=True)
class AdmissionSettings:
    replica_concurrency: int       # requests one replica runs at once (the queue model)
    max_queue_per_slot: float      # beyond this many queued per slot a variant is saturated
    max_queue_ms: float            # predicted queueing above which a variant takes no more for now
    protect_s: float               # how long a tight request keeps its fast lane's budget (0: none)
    protect_margin: float          # the share of a tight limit the fast lane's budget aims at
    protect_suspend_below: float   # a lane whose tight requests meet their limits less often holds nothing back


@dataclass(frozen=True)
class ForwardSettings:
    max_attempts: int              # variants tried per request
    timeout_s: float               # deadline without max_latency_ms
    stall_factor: float            # an attempt past this many times its prediction is given up (0: never)
    stall_floor_ms: float          # the shortest stall bound
    hold_s: float                  # longest a request that finds no room waits in the selector


@dataclass(frozen=True)
class PolicySettings:
    explore_unknown_s: float       # ours tries a variant never seen answering at most this often (0: never)
    explore_aged_s: float          # and one whose observations aged out (0: never)
    sure_share: float = 0.0        # with a limit, predicted within this share of it counts as fully fast (0: off)


@dataclass(frozen=True)
class EngineSettings:
    default_policy: str
    signals: SignalSettings
    admission: AdmissionSettings
    forwarding: ForwardSettings
    policy: PolicySettings
