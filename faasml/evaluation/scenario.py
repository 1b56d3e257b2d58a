"""Scenarios as data: one YAML file per scenario under `scenarios/`.

```yaml
name: mix                         # default: the file's stem
description: the issue's three client classes on the default placement
task: image-classification        # what every request asks the selector for
inputs: images                    # images (the labelled --data folder) | sentences (shipped pairs)
nodes: nodes/edge-cloud.yml       # optional nodes file, relative to this file (`faasml up --nodes`)
loads: [0.25, 0.5, 0.75, 1.0, 1.5]   # offered rates as fractions of the measured capacity
classes:
  latency-critical: {share: 0.3, tradeoff: 0, max_latency_ms: 50, deadline_ms: 50}
  balanced:         {share: 0.5, tradeoff: 0.5, deadline_ms: 200}
  accuracy-critical: {share: 0.2, tradeoff: 1, deadline_ms: 1000}
mix:                              # optional: shares changing during each run, piecewise
  - {at: 0.0, shares: {latency-critical: 0.1, balanced: 0.6, accuracy-critical: 0.3}}
  - {at: 0.5, shares: {latency-critical: 0.6, balanced: 0.3, accuracy-critical: 0.1}}
  - {at: 1.0, shares: {latency-critical: 0.1, balanced: 0.6, accuracy-critical: 0.3}}
```
`deadline_ms` is the client's own deadline (what "in time" means); `max_latency_ms`, when
given, is sent to the selector as its hard limit. Shares are normalised; with `mix`, the
shares at a moment are interpolated linearly between the keyframes (`at` = fraction of
the run, 0..1).

How requests arrive (optional; the offered rate is always the mean rate, so loads stay
fractions of capacity; faasml/evaluation/trace.py draws them):
```yaml
arrivals: {process: poisson}                       # the default
arrivals: {process: bursty, burst_factor: 4, burst_share: 0.15, burst_s: 1.0}
                                                   # two-state modulated Poisson: bursts at 4x the
                                                   # mean rate, 15% of the time, 1 s long on average
arrivals: {process: diurnal, profile: [{at: 0, rate: 0.4}, {at: 0.5, rate: 1.6}, {at: 1, rate: 0.4}]}
                                                   # the rate ramps through these relative levels
```
For the simulator only (`faasml bench simulate`; `faasml bench evaluate` says it ignores
them): `selectors` (selector replicas, each with its own engine and load view),
`cluster` (a generated topology instead of the stack on this machine's nodes, see
faasml/simulation/topology.py) and `faults` (faasml/simulation/faults.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

INPUT_KINDS = ("images", "sentences")
ARRIVAL_PROCESSES = ("poisson", "bursty", "diurnal")
DEFAULT_LOADS = (0.25, 0.5, 0.75, 1.0, 1.5)
SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"


class ScenarioError(ValueError):
    """A scenario file is unreadable or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class ClientClass:
    name: str
    share: float
    tradeoff: float
    deadline_ms: float
    max_latency_ms: float | None = None
    min_accuracy: float | None = None

    def query(self) -> dict[str, str]:
        """The selector's parameters this class sends (besides task and policy)."""
        params = {"tradeoff": f"{self.tradeoff:g}"}
        if self.max_latency_ms is not None:
            params["max_latency_ms"] = f"{self.max_latency_ms:g}"
        if self.min_accuracy is not None:
            params["min_accuracy"] = f"{self.min_accuracy:g}"
        return params


@dataclass(frozen=True)
class Keyframe:
    at: float                       # fraction of the run, 0..1
    shares: tuple[float, ...]       # normalised, in the order of Scenario.classes


@dataclass(frozen=True)
class Arrivals:
    """How requests arrive, around the offered (mean) rate."""

    process: str = "poisson"
    burst_factor: float = 4.0       # bursty: the rate in a burst, as a multiple of the mean
    burst_share: float = 0.15       # bursty: the share of the time spent in bursts
    burst_s: float = 1.0            # bursty: a burst's mean length, seconds
    profile: tuple[tuple[float, float], ...] = ()   # diurnal: (fraction of the run, relative rate), mean 1

    def rate_at(self, fraction: float) -> float:
        """Diurnal: the relative rate at `fraction` of the run (1 for the others)."""
        frames = self.profile
        if not frames:
            return 1.0
        if fraction <= frames[0][0]:
            return frames[0][1]
        for (a, ra), (b, rb) in zip(frames, frames[1:]):
            if fraction <= b:
                return ra if b <= a else ra + (rb - ra) * (fraction - a) / (b - a)
        return frames[-1][1]


@dataclass(frozen=True)
class Scenario:
    name: str
    task: str
    inputs: str
    classes: tuple[ClientClass, ...]
    loads: tuple[float, ...] = DEFAULT_LOADS
    nodes: Path | None = None
    description: str = ""
    mix: tuple[Keyframe, ...] = ()
    source: Path | None = field(default=None, compare=False)
    arrivals: Arrivals = Arrivals()
    selectors: int = 1                                            # simulator only
    cluster: Any = field(default=None, compare=False)             # simulator only: the raw mapping
    faults: tuple[Any, ...] = field(default=(), compare=False)    # simulator only: raw mappings

    @property
    def simulation_only(self) -> list[str]:
        """The keys a live run cannot honour."""
        return [k for k, v in (("selectors", self.selectors != 1), ("cluster", self.cluster is not None),
                                ("faults", bool(self.faults))) if v]

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def shares_at(self, fraction: float) -> tuple[float, ...]:
        """Class shares at `fraction` (0..1) of the run: static, or interpolated keyframes."""
        if not self.mix:
            return tuple(c.share for c in self.classes)
        frames = self.mix
        if fraction <= frames[0].at:
            return frames[0].shares
        for left, right in zip(frames, frames[1:]):
            if fraction <= right.at:
                span = right.at - left.at
                w = 0.0 if span <= 0 else (fraction - left.at) / span
                return tuple(a + (b - a) * w for a, b in zip(left.shares, right.shares))
        return frames[-1].shares

    def mean_shares(self, steps: int = 200) -> tuple[float, ...]:
        """Shares averaged over the run (what a capacity measurement replays)."""
        rows = [self.shares_at((i + 0.5) / steps) for i in range(steps)]
        return tuple(sum(r[k] for r in rows) / steps for k in range(len(self.classes)))

    def by_name(self, name: str) -> ClientClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)


def _number(where: str, value: Any, low: float | None = None, high: float | None = None,
            positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    value = float(value)
    if positive and value <= 0:
        raise ScenarioError(f"{where}: must be > 0, got {value:g}")
    if low is not None and value < low or high is not None and value > high:
        raise ScenarioError(f"{where}: must be within [{low:g}, {high:g}], got {value:g}")
    return value


def _normalise(where: str, shares: list[float]) -> tuple[float, ...]:
    total = sum(shares)
    if total <= 0:
        raise ScenarioError(f"{where}: shares must add up to more than 0")
    return tuple(s / total for s in shares)


CLASS_KEYS = {"share", "tradeoff", "deadline_ms", "max_latency_ms", "min_accuracy"}
TOP_KEYS = {"name", "description", "task", "inputs", "nodes", "loads", "classes", "mix", "arrivals", "selectors",
            "cluster", "faults"}
ARRIVAL_KEYS = {"process", "burst_factor", "burst_share", "burst_s", "profile"}


def parse_arrivals(label: str, raw: Any) -> Arrivals:
    where = f"{label}: arrivals"
    if raw is None:
        return Arrivals()
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping like {{process: bursty, burst_factor: 4}}")
    unknown = set(raw) - ARRIVAL_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(ARRIVAL_KEYS)}")
    process = raw.get("process", "poisson")
    if process not in ARRIVAL_PROCESSES:
        raise ScenarioError(f"{where}.process: one of {list(ARRIVAL_PROCESSES)}, got {process!r}")
    factor = _number(f"{where}.burst_factor", raw.get("burst_factor", 4.0), positive=True)
    share = _number(f"{where}.burst_share", raw.get("burst_share", 0.15), 0.0, 1.0)
    burst_s = _number(f"{where}.burst_s", raw.get("burst_s", 1.0), positive=True)
    if process == "bursty" and (factor < 1 or factor * share > 1 or not 0 < share < 1):
        raise ScenarioError(f"{where}: bursts at {factor:g}x the mean for {share:g} of the time leave a negative "
                            f"rate between them: need burst_factor >= 1, 0 < burst_share < 1 and their product <= 1")
    profile: tuple[tuple[float, float], ...] = ()
    if process == "diurnal":
        frames = raw.get("profile")
        if not isinstance(frames, list) or len(frames) < 2:
            raise ScenarioError(f"{where}.profile: a list of at least two {{at: 0..1, rate: relative}} keyframes")
        points = []
        for i, frame in enumerate(frames):
            if not isinstance(frame, dict) or set(frame) != {"at", "rate"}:
                raise ScenarioError(f"{where}.profile[{i}]: expected {{at: 0..1, rate: relative}}")
            points.append((_number(f"{where}.profile[{i}].at", frame["at"], 0.0, 1.0),
                           _number(f"{where}.profile[{i}].rate", frame["rate"], 0.0, 1e9)))
        if any(b[0] < a[0] for a, b in zip(points, points[1:])):
            raise ScenarioError(f"{where}.profile: keyframes must be in increasing `at` order")
        shape = Arrivals("diurnal", profile=tuple(points))
        steps = 1000
        mean = sum(shape.rate_at((i + 0.5) / steps) for i in range(steps)) / steps
        if mean <= 0:
            raise ScenarioError(f"{where}.profile: the rate is 0 throughout")
        profile = tuple((at, rate / mean) for at, rate in points)
    return Arrivals(process, factor, share, burst_s, profile)


def parse_scenario(document: Any, source: Path | None = None) -> Scenario:
    """A scenario from a parsed YAML document; ScenarioError names what is wrong."""
    label = str(source) if source else "scenario"
    if not isinstance(document, dict):
        raise ScenarioError(f"{label}: expected a mapping at the top level, got {type(document).__name__}")
    unknown = set(document) - TOP_KEYS
    if unknown:
        raise ScenarioError(f"{label}: unknown key(s) {sorted(unknown)}; known: {sorted(TOP_KEYS)}")
    name = str(document.get("name") or (source.stem if source else ""))
    if not name:
        raise ScenarioError(f"{label}: needs a `name`")
    task = document.get("task")
    if not isinstance(task, str) or not task:
        raise ScenarioError(f"{label}: needs `task` (e.g. image-classification)")
    inputs = document.get("inputs", "images" if task == "image-classification" else None)
    if inputs not in INPUT_KINDS:
        raise ScenarioError(f"{label}: `inputs` must be one of {list(INPUT_KINDS)}, got {inputs!r}")

    raw_classes = document.get("classes")
    if not isinstance(raw_classes, dict) or not raw_classes:
        raise ScenarioError(f"{label}: needs `classes`, a mapping of class name -> "
                            f"{{share, tradeoff, deadline_ms[, max_latency_ms, min_accuracy]}}")
    mix_given = document.get("mix") is not None
    classes, shares = [], []
    for cname, spec in raw_classes.items():
        where = f"{label}: classes.{cname}"
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where}: expected a mapping, got {spec!r}")
        unknown = set(spec) - CLASS_KEYS
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(CLASS_KEYS)}")
        for required in ("tradeoff", "deadline_ms") + (() if mix_given else ("share",)):
            if required not in spec:
                raise ScenarioError(f"{where}: missing `{required}`")
        share = _number(f"{where}.share", spec.get("share", 1.0), low=0.0, high=1e9)
        max_latency = spec.get("max_latency_ms")
        min_accuracy = spec.get("min_accuracy")
        classes.append(ClientClass(
            name=str(cname), share=share,
            tradeoff=_number(f"{where}.tradeoff", spec["tradeoff"], 0.0, 1.0),
            deadline_ms=_number(f"{where}.deadline_ms", spec["deadline_ms"], positive=True),
            max_latency_ms=None if max_latency is None else _number(f"{where}.max_latency_ms", max_latency,
                                                                    positive=True),
            min_accuracy=None if min_accuracy is None else _number(f"{where}.min_accuracy", min_accuracy,
                                                                   0.0, 1.0)))
        shares.append(share)
    normalised = _normalise(f"{label}: classes", shares) if not mix_given else tuple(shares)
    classes = [ClientClass(c.name, s, c.tradeoff, c.deadline_ms, c.max_latency_ms, c.min_accuracy)
               for c, s in zip(classes, normalised)]

    mix: list[Keyframe] = []
    if mix_given:
        raw_mix = document["mix"]
        if not isinstance(raw_mix, list) or len(raw_mix) < 2:
            raise ScenarioError(f"{label}: `mix` must be a list of at least two keyframes "
                                f"{{at: 0..1, shares: {{class: share}}}}")
        names = [c.name for c in classes]
        for i, frame in enumerate(raw_mix):
            where = f"{label}: mix[{i}]"
            if not isinstance(frame, dict) or "at" not in frame or not isinstance(frame.get("shares"), dict):
                raise ScenarioError(f"{where}: expected {{at: 0..1, shares: {{class: share}}}}")
            unknown = set(frame["shares"]) - set(names)
            if unknown:
                raise ScenarioError(f"{where}: unknown class(es) {sorted(unknown)}; classes: {names}")
            values = [_number(f"{where}.shares.{n}", frame["shares"].get(n, 0.0), low=0.0, high=1e9)
                      for n in names]
            mix.append(Keyframe(_number(f"{where}.at", frame["at"], 0.0, 1.0),
                                _normalise(f"{where}.shares", values)))
        if any(b.at < a.at for a, b in zip(mix, mix[1:])):
            raise ScenarioError(f"{label}: mix keyframes must be in increasing `at` order")

    raw_loads = document.get("loads", list(DEFAULT_LOADS))
    if not isinstance(raw_loads, list) or not raw_loads:
        raise ScenarioError(f"{label}: `loads` must be a non-empty list of fractions of capacity")
    loads = tuple(_number(f"{label}: loads[{i}]", v, positive=True) for i, v in enumerate(raw_loads))

    nodes = document.get("nodes")
    nodes_path = None
    if nodes is not None:
        if not isinstance(nodes, str):
            raise ScenarioError(f"{label}: `nodes` must be a path to a nodes file (relative to the scenario)")
        nodes_path = (source.parent / nodes if source else Path(nodes)).resolve()
        if not nodes_path.is_file():
            raise ScenarioError(f"{label}: nodes file {nodes_path} does not exist")
    selectors = document.get("selectors", 1)
    if isinstance(selectors, bool) or not isinstance(selectors, int) or selectors < 1:
        raise ScenarioError(f"{label}: `selectors` must be a whole number >= 1 (selector replicas), got {selectors!r}")
    cluster = document.get("cluster")
    if cluster is not None and not isinstance(cluster, dict):
        raise ScenarioError(f"{label}: `cluster` must be a mapping (faasml/simulation/topology.py)")
    faults = document.get("faults") or []
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise ScenarioError(f"{label}: `faults` must be a list of mappings (faasml/simulation/faults.py)")
    scenario = Scenario(name=name, task=task, inputs=inputs, classes=tuple(classes), loads=loads,
                        nodes=nodes_path, description=str(document.get("description") or ""),
                        mix=tuple(mix), source=source, arrivals=parse_arrivals(label, document.get("arrivals")),
                        selectors=selectors, cluster=cluster, faults=tuple(faults))
    if mix:  # a class's `share` is then its share averaged over the run
        averaged = scenario.mean_shares()
        scenario = Scenario(**{**scenario.__dict__, "classes": tuple(
            ClientClass(c.name, s, c.tradeoff, c.deadline_ms, c.max_latency_ms, c.min_accuracy)
            for c, s in zip(classes, averaged))})
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return parse_scenario(document, path)


def scenario_files(folder: Path = SCENARIOS_DIR) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.is_file())


def resolve_scenarios(names: list[str], folder: Path = SCENARIOS_DIR) -> list[Scenario]:
    """Scenario names (the file stems in `folder`) or paths; empty = every scenario in `folder`."""
    if not names:
        files = scenario_files(folder)
        if not files:
            raise ScenarioError(f"no scenarios (*.yml) in {folder}")
        return [load_scenario(p) for p in files]
    found = []
    for name in names:
        path = Path(name)
        if not path.is_file():
            candidates = [folder / f"{name}.yml", folder / f"{name}.yaml"]
            path = next((c for c in candidates if c.is_file()), None)
            if path is None:
                known = ", ".join(p.stem for p in scenario_files(folder)) or "none"
                raise ScenarioError(f"unknown scenario {name!r}; in {folder}: {known}")
        found.append(load_scenario(path))
    return found
