"""Placing replicas on nodes by `constraints` and the `faasml.io/node-class` annotation.

Constraints are written as Kubernetes node selectors (`faasml.io/node-class=edge`) or
Docker-swarm style (`node.labels.faasml.io/node-class == edge`, `!=`). A function that
fits no node is unschedulable: reported, never started somewhere else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from faasml import errors as codes
from faasml.errors import BadRequest
from faasml.runtime.nodes import Node

NODE_CLASS = "faasml.io/node-class"
_CONSTRAINT = re.compile(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*$")
_SWARM_PREFIX = "node.labels."


@dataclass(frozen=True)
class Constraint:
    key: str
    value: str
    negated: bool = False

    def allows(self, labels: Mapping[str, str]) -> bool:
        return (labels.get(self.key) == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.key}{'!=' if self.negated else '='}{self.value}"


def parse_constraint(text: str) -> Constraint:
    match = _CONSTRAINT.match(text)
    if not match:
        raise BadRequest(f"bad constraint {text!r}: use key=value or key!=value", code=codes.BAD_CONSTRAINT)
    key, operator, value = match.groups()
    if key.startswith(_SWARM_PREFIX):
        key = key[len(_SWARM_PREFIX):]
    return Constraint(key, value, negated=operator == "!=")


def function_constraints(constraints: Iterable[str], annotations: Mapping[str, str]) -> list[Constraint]:
    """All constraints a function's nodes must meet; the node-class annotation is one too."""
    parsed = [parse_constraint(c) for c in constraints]
    node_class = annotations.get(NODE_CLASS, "").strip()
    if node_class:
        parsed.append(Constraint(NODE_CLASS, node_class))
    return list(dict.fromkeys(parsed))  # stack.yml often says the same thing both ways


def fitting_nodes(nodes: Sequence[Node], constraints: Sequence[Constraint]) -> list[Node]:
    return [n for n in nodes if all(c.allows(n.labels) for c in constraints)]


def unschedulable_reason(nodes: Sequence[Node], constraints: Sequence[Constraint]) -> str:
    wanted = ", ".join(map(str, constraints))
    offered = "; ".join(n.describe() for n in nodes)
    return f"no node matches [{wanted}]; nodes: {offered}"


def choose_node(candidates: Sequence[Node], own_replicas: Mapping[str, int],
                all_replicas: Mapping[str, int]) -> Node:
    """Spread a function's replicas over its fitting nodes: fewest of its own, then fewest overall."""
    return min(candidates, key=lambda n: (own_replicas.get(n.name, 0), all_replicas.get(n.name, 0)))
