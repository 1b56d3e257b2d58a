"""What a client asks of one selection: its task, trade-off and hard limits (parsed from
the query string or X-Faasml-* headers by the shell, params.py)."""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TRADEOFF = 0.5


@dataclass(frozen=True)
class SelectionRequest:
    task: str | None
    tradeoff: float = DEFAULT_TRADEOFF      # 0 = fastest ... 1 = most accurate
    max_latency_ms: float | None = None     # hard limit on predicted (and waited) latency
    min_accuracy: float | None = None       # hard limit on the variant's accuracy
    variant: str | None = None              # pin: skip the policy, use exactly this one
    explain: bool = False                   # answer with the candidate table, do not forward
    policy: str | None = None               # override the configured policy (evaluation)
    family: str | None = None               # only the variants of this model (`faasml.io/family`)
