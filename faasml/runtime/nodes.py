"""The "nodes" of one machine: named CPU sets with labels and an optional simulated RTT.

A nodes file (YAML) splits the machine for placement experiments:

    nodes:
      - name: edge
        labels: {faasml.io/node-class: edge}
        cpus: "0"          # CPU ids, ranges ("0-3,6") or "all"; replicas are pinned to them
        rtt_ms: 0          # SIMULATED network round trip added on the gateway -> node path
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faasml import errors as codes
from faasml.errors import BadRequest


class NodesFileError(BadRequest):
    """400: the nodes file is unreadable or malformed."""

    code = codes.BAD_NODES_FILE


@dataclass(frozen=True)
class Node:
    name: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    cpus: frozenset[int] = frozenset()  # empty = every CPU this process may use
    rtt_ms: float = 0.0  # a simulation for experiments: real local calls have ~0 RTT

    @property
    def cpu_count(self) -> int:
        return len(self.cpus) if self.cpus else len(available_cpus())

    def describe(self) -> str:
        # A count first, then the ids: "cpus 0" read as zero CPUs.
        count = self.cpu_count
        plural = "CPU" if count == 1 else "CPUs"
        if self.cpus:
            cpus = f"{count} {plural}, id {','.join(map(str, sorted(self.cpus)))}"
        else:
            cpus = f"all {count} {plural}, unpinned"
        labels = ",".join(f"{k}={v}" for k, v in self.labels.items()) or "-"
        return f"{self.name} ({cpus}; labels {labels}; simulated rtt {self.rtt_ms:g} ms)"


def available_cpus() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


def parse_cpus(spec: Any) -> frozenset[int]:
    """`[0, 1]`, `"0-3,6"`, `2`, `"1-"` (1 and up) or `"all"` -> CPU ids (empty for all)."""
    if spec is None or str(spec).strip().lower() in ("", "all"):
        return frozenset()
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    cpus: set[int] = set()
    for part in parts:
        text = str(part).strip()
        low, dash, high = text.partition("-")
        if dash and not high:  # open range: every CPU from `low` up, on any machine size
            high = str(max(available_cpus()))
        if not low.isdigit() or (high and not high.isdigit()):
            raise NodesFileError(f"bad CPU list {spec!r}: use ids and ranges like 0-3,6 or 1-")
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def load_nodes(path: str | os.PathLike[str]) -> tuple[list[Node], list[str]]:
    """The nodes of a nodes file, and warnings (e.g. CPUs this machine does not have)."""
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise NodesFileError(f"cannot read nodes file {path}: {exc}") from exc
    entries = document.get("nodes") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise NodesFileError(f"{path}: needs a non-empty `nodes:` list")
    nodes, warnings, usable = [], [], available_cpus()
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise NodesFileError(f"{path}: every node needs a `name`")
        cpus = parse_cpus(entry.get("cpus"))
        if cpus and not cpus & usable:
            warnings.append(f"node {entry['name']}: none of CPUs {sorted(cpus)} exist here "
                            f"(usable: {sorted(usable)}); it gets all CPUs")
            cpus = frozenset()
        elif cpus - usable:
            warnings.append(f"node {entry['name']}: CPUs {sorted(cpus - usable)} do not exist here")
            cpus = cpus & usable
        nodes.append(Node(
            name=str(entry["name"]),
            labels={str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
            cpus=cpus,
            rtt_ms=float(entry.get("rtt_ms") or 0.0),
        ))
    if len({n.name for n in nodes}) != len(nodes):
        raise NodesFileError(f"{path}: node names must be unique")
    return nodes, warnings


def single_node() -> Node:
    """Used when no nodes file is given or found: the whole machine, unlabelled."""
    return Node(name="local")
