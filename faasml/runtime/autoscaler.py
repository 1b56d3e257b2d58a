"""Autoscaling by OpenFaaS's labels, for `faasml up`.

A function is autoscaled when it carries any of `com.openfaas.scale.max`, `.target`,
`.type`, `.target-proportion` or `.zero` (with only `.min`, or none, its replica count is
what it is told, as before). Semantics follow OpenFaaS's autoscaler:

- `type` is what a replica's `target` counts: `rps` (invocations per second started
  through the gateway), `capacity` (requests in flight) or `cpu` (millicores used);
- desired = ceil(load / (target x target-proportion)), within [min, max], where max is
  also bounded by the CPUs of the nodes the function may run on (one replica per CPU: a
  CPU-bound executor gains nothing from a second replica on the same core);
- load is averaged over `window_s`; a rise scales up at the next tick, a fall scales
  down only once the desired count has stayed lower for `down_delay_s` (no flapping);
- `zero=true`: after `zero-duration` (Go duration, default 15m) with no invocation, the
  function goes to zero replicas; the next request scales it back up and waits
  (FunctionProxy.wake calls `wake`).

Each decision is logged in the function's log and counted in `/metrics`.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

from faasml.background import Background
from faasml.prometheus import family
from faasml.runtime.durations import parse_duration_seconds
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.replicas import UsageMeter
from faasml.runtime.supervisor import FunctionSupervisor
from faasml.settings import number, setting

PREFIX = "com.openfaas.scale."
TYPES = ("rps", "capacity", "cpu")
_AUTOSCALING_LABELS = tuple(PREFIX + k for k in ("max", "target", "type", "target-proportion", "zero"))
DEFAULT_MAX, DEFAULT_TARGET, DEFAULT_PROPORTION, DEFAULT_ZERO_DURATION_S = 20, 50.0, 0.90, 900.0


@dataclass(frozen=True)
class AutoscaleSettings:
    interval_s: float = setting("FAASML_AUTOSCALE_INTERVAL_S", 2.0, number(positive=True),
                                "how often the autoscaler looks at each function's load")
    window_s: float = setting("FAASML_AUTOSCALE_WINDOW_S", 10.0, number(positive=True),
                              "the load it acts on is the average over this many seconds")
    down_delay_s: float = setting("FAASML_AUTOSCALE_DOWN_DELAY_S", 30.0, number(),
                                  "scale down only after the desired count stayed lower this long")
    # The installation's defaults for functions whose labels leave them out, as an OpenFaaS
    # installation sets its own (the CE alert's threshold, the idler's inactivity duration).
    default_target: float = setting("FAASML_AUTOSCALE_TARGET", DEFAULT_TARGET, number(positive=True),
                                    "load per replica of a function without com.openfaas.scale.target")
    default_zero_duration_s: float = setting(
        "FAASML_AUTOSCALE_ZERO_DURATION_S", DEFAULT_ZERO_DURATION_S, number(positive=True),
        "idle seconds before zero, for com.openfaas.scale.zero=true without zero-duration")


@dataclass(frozen=True)
class ScalePolicy:
    min: int = 1
    max: int = DEFAULT_MAX
    target: float = DEFAULT_TARGET
    type: str = "rps"
    proportion: float = DEFAULT_PROPORTION
    zero: bool = False
    zero_duration_s: float = DEFAULT_ZERO_DURATION_S

    @property
    def per_replica(self) -> float:
        return self.target * self.proportion

    def desired(self, load: float) -> int:
        return min(max(math.ceil(load / self.per_replica - 1e-9), self.min), self.max)


def policy_from_labels(labels: Mapping[str, str], cpu_bound: int, default_target: float = DEFAULT_TARGET,
                       default_zero_duration_s: float = DEFAULT_ZERO_DURATION_S
                       ) -> tuple[ScalePolicy | None, list[str]]:
    """The function's policy (None: not autoscaled) and what was wrong with its labels."""
    if not any(k in labels for k in _AUTOSCALING_LABELS):
        return None, []
    problems: list[str] = []

    def read(key: str, parse: Callable[[str], object], default, ok: Callable[[object], bool]):
        raw = labels.get(PREFIX + key)
        if raw is None:
            return default
        try:
            value = parse(raw.strip())
        except ValueError:
            value = None
        if value is None or not ok(value):
            problems.append(f"label {PREFIX}{key}={raw!r} is not valid; using {default}")
            return default
        return value

    minimum = read("min", int, 1, lambda v: v >= 0) or 1
    maximum = read("max", int, DEFAULT_MAX, lambda v: v >= 1)
    bounded = max(min(maximum, cpu_bound), minimum)
    return ScalePolicy(
        min=minimum, max=bounded,
        target=read("target", float, default_target, lambda v: v > 0),
        type=read("type", str.lower, "rps", lambda v: v in TYPES),
        proportion=read("target-proportion", float, DEFAULT_PROPORTION, lambda v: 0 < v <= 1),
        zero=read("zero", str.lower, "false", lambda v: v in ("true", "false")) == "true",
        zero_duration_s=read("zero-duration", parse_duration_seconds, default_zero_duration_s, lambda v: v > 0),
    ), problems


def load_over_window(scale_type: str, samples: list[tuple[float, int, int, float]]) -> float:
    """The load of samples (t, invocations started so far, in flight, CPU millicores) over
    the window they span: `rps` from the started counter, `capacity` and `cpu` averaged."""
    if scale_type == "rps":
        (t0, s0, _, _), (t1, s1, _, _) = samples[0], samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
    column = 2 if scale_type == "capacity" else 3
    return sum(s[column] for s in samples) / len(samples)


@dataclass
class _Watch:
    """What the autoscaler remembers about one function."""

    samples: deque = field(default_factory=deque)  # (t, started, in_flight, cpu_millis)
    last_active: float = field(default_factory=time.monotonic)
    lower_since: float | None = None
    highest_recent: int = 0   # the largest desired count within the down delay
    usage: UsageMeter = field(default_factory=UsageMeter)
    warned: bool = False
    load: float = 0.0
    desired: int | None = None
    events: dict[str, int] = field(default_factory=dict)  # direction -> count


class Autoscaler:
    def __init__(self, functions: Callable[[], list[FunctionSupervisor]], metrics: GatewayMetrics,
                 settings: AutoscaleSettings):
        self.functions, self.metrics, self.settings = functions, metrics, settings
        self._watches: dict[str, _Watch] = {}
        self._task: asyncio.Task | None = None
        self.background: Background | None = None

    def start(self, background: Background | None = None) -> None:
        self.background = background
        self._task = asyncio.get_running_loop().create_task(self._loop())
        if background is not None:
            background.watch("autoscaler", self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def policy(self, supervisor: FunctionSupervisor) -> tuple[ScalePolicy | None, list[str]]:
        cpu_bound = sum(n.cpu_count for n in supervisor.current.nodes) or 1
        return policy_from_labels(supervisor.spec.labels, cpu_bound, self.settings.default_target,
                                  self.settings.default_zero_duration_s)

    def _watch(self, supervisor: FunctionSupervisor) -> _Watch:
        return self._watches.setdefault(supervisor.spec.qualified_name, _Watch())

    # --- scale from zero (called by the proxy) --------------------------------------

    def wake(self, supervisor: FunctionSupervisor) -> None:
        policy, _ = self.policy(supervisor)
        replicas = policy.min if policy else supervisor.spec.min_replicas
        watch = self._watch(supervisor)
        watch.last_active, watch.lower_since, watch.highest_recent = time.monotonic(), None, replicas
        self._scale(supervisor, watch, replicas, "from_zero", "a request arrived")

    # --- the loop ----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            try:
                self._round()
            except Exception as exc:  # the loop outlives any round; counted in /metrics and /healthz
                if self.background is not None:
                    self.background.failed("autoscaler", exc)

    def _round(self) -> None:
        now = time.monotonic()
        live = set()
        for supervisor in self.functions():
            live.add(supervisor.spec.qualified_name)
            try:
                self._tick(supervisor, now)
            except Exception as exc:  # one function's trouble must not stop the others
                supervisor.log(f"autoscaler: {exc!r}")
        for name in set(self._watches) - live:
            del self._watches[name]

    def _tick(self, supervisor: FunctionSupervisor, now: float) -> None:
        policy, problems = self.policy(supervisor)
        if policy is None or supervisor.unschedulable or supervisor.stopped:
            return
        watch = self._watch(supervisor)
        if problems and not watch.warned:
            watch.warned = True
            for problem in problems:
                supervisor.log(f"autoscaler: {problem}")
        started, in_flight = self.metrics.load(supervisor.spec.qualified_name)
        cpu_millis = self._cpu_millis(supervisor, watch) if policy.type == "cpu" else 0.0
        watch.samples.append((now, started, in_flight, cpu_millis))
        while len(watch.samples) > 2 and watch.samples[1][0] <= now - self.settings.window_s:
            watch.samples.popleft()
        if in_flight > 0 or (len(watch.samples) > 1 and watch.samples[-2][1] != started):
            watch.last_active = now
        current = supervisor.desired_replicas
        if current == 0:
            return  # asleep: only a request wakes it (wake)
        if policy.zero and now - watch.last_active >= policy.zero_duration_s:
            self._scale(supervisor, watch, 0, "to_zero",
                        f"no invocation for {now - watch.last_active:.0f}s (zero-duration)")
            return
        watch.load = load_over_window(policy.type, list(watch.samples))
        wanted = policy.desired(watch.load)
        watch.desired = wanted
        why = (f"{policy.type} {watch.load:.3g} over {self.settings.window_s:g}s; target "
               f"{policy.target:g} x {policy.proportion:g} per replica, within [{policy.min}, {policy.max}]")
        if wanted > current or current > policy.max or current < policy.min:
            watch.lower_since, watch.highest_recent = None, wanted
            self._scale(supervisor, watch, wanted, "up" if wanted > current else "down", why)
        elif wanted < current:
            if watch.lower_since is None:
                watch.lower_since, watch.highest_recent = now, wanted
            watch.highest_recent = max(watch.highest_recent, wanted)
            if now - watch.lower_since >= self.settings.down_delay_s:
                target = watch.highest_recent
                watch.lower_since = None
                self._scale(supervisor, watch, target, "down", why)
        else:
            watch.lower_since = None

    @staticmethod
    def _cpu_millis(supervisor: FunctionSupervisor, watch: _Watch) -> float:
        live = {r.pid: r.started_at for r in supervisor.all_replicas() if r.pid}
        return watch.usage.sample(live)["cpu"] * 10.0  # percent of one CPU -> millicores

    def _scale(self, supervisor: FunctionSupervisor, watch: _Watch, replicas: int, direction: str,
               why: str) -> None:
        before = supervisor.desired_replicas
        if replicas == before:
            return
        watch.events[direction] = watch.events.get(direction, 0) + 1
        supervisor.log(f"autoscaler: {before} -> {replicas} replica(s) ({direction}): {why}")
        supervisor.scale(replicas)

    # --- metrics -----------------------------------------------------------------------

    def metric_families(self) -> list[list[str]]:
        watches = sorted(self._watches.items())
        return [
            family("faasml_autoscaler_scale_events_total", "counter",
                   "Replica count changes made by the autoscaler (up, down, to_zero, from_zero)",
                   [((("function_name", n), ("direction", d)), count)
                    for n, w in watches for d, count in sorted(w.events.items())]),
            family("faasml_autoscaler_load", "gauge",
                   "The load the autoscaler last acted on, in its scale type's unit",
                   [((("function_name", n),), w.load) for n, w in watches if w.desired is not None]),
            family("faasml_autoscaler_desired_replicas", "gauge",
                   "The replica count the autoscaler last computed",
                   [((("function_name", n),), w.desired) for n, w in watches if w.desired is not None]),
        ]
