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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

INPUT_KINDS = ("images", "sentences")
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
TOP_KEYS = {"name", "description", "task", "inputs", "nodes", "loads", "classes", "mix"}


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
    scenario = Scenario(name=name, task=task, inputs=inputs, classes=tuple(classes), loads=loads,
                        nodes=nodes_path, description=str(document.get("description") or ""),
                        mix=tuple(mix), source=source)
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
