"""What a model variant promises, read from its OpenFaaS function's annotations.

The deployment is the registry (docs/architecture.md, Contracts): every executor function
carries `faasml.io/*` annotations, and this module turns one `GET /system/functions` entry
(already fetched by the shell) into a `Variant`. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from faasml.contract import ROLE_EXECUTOR, ROLE_LABEL
from faasml.cpu import FULL_CPU_MILLIS, cpu_millis

ANNOTATION_PREFIX = "faasml.io/"


@dataclass(frozen=True)
class Variant:
    name: str                    # OpenFaaS function name
    namespace: str               # OpenFaaS namespace (metrics label is name.namespace)
    gateway: str                 # base URL of the gateway that serves it
    task: str
    accuracy: float              # 0..1, the card's `value` (see accuracy_source)
    profile_latency_ms: float    # profiled p50 service time on its node class
    node_class: str = "cloud"    # edge | cloud | gpu
    precision: str = "fp32"
    accuracy_source: str = ""
    rtt_ms: float = 0.0          # declared round trip gateway -> node (annotation), if any
    replicas: int = 1            # desired replicas
    available_replicas: int = 1  # replicas that passed readiness
    schedulable: bool = True     # False when the provider says no node can run it
    # The node whose CPUs its replicas share with the variants placed beside them, and
    # how many CPUs that node has: `faasml up` reports both; on a cluster the
    # `faasml.io/node` and `faasml.io/node-cpus` annotations may say it (a variant pinned
    # there by its constraints). None: it shares with nothing the selector knows of.
    node: str | None = None
    node_cpus: int = 1
    # Its CPU request (millicores): its weight against the node's other work when the
    # CPUs are contended (faasml/cpu.py). Every variant without one weighs a full CPU.
    cpu_millis: float = FULL_CPU_MILLIS
    key: str = ""                # unique id in the registry (name, or name@gateway on clashes)
    # Whether profile_latency_ms was measured on this kind of machine (a profiles file
    # whose `measured_on` names this CPU); else it is a prior the selector explores.
    profile_here: bool = False
    # Addresses that reach its replicas without its gateway, when the gateway offers them
    # (`faasml up`: `faasml.directUrls`); the selector may call there (direct.py).
    direct_urls: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)  # other faasml.io/* annotations

    @property
    def function_name(self) -> str:
        """The gateway metrics' `function_name` label."""
        return f"{self.name}.{self.namespace}"

    @property
    def id(self) -> str:
        return self.key or self.name

    @property
    def family(self) -> str | None:
        """The model this is a variant of (`faasml.io/family`, the card's family), if said."""
        return self.extra.get(ANNOTATION_PREFIX + "family") or None


class InvalidVariant(ValueError):
    """A function claims to be an executor but its annotations do not parse."""


def _float(annotations: Mapping[str, str], key: str, default: float | None = None) -> float:
    raw = annotations.get(ANNOTATION_PREFIX + key)
    if raw is None or str(raw).strip() == "":
        if default is None:
            raise InvalidVariant(f"missing annotation {ANNOTATION_PREFIX}{key}")
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidVariant(f"annotation {ANNOTATION_PREFIX}{key}={raw!r} is not a number") from exc


def is_executor(status: Mapping[str, Any]) -> bool:
    """Executors are labelled `faasml.io/role=executor`, or at least declare a task."""
    labels = status.get("labels") or {}
    annotations = status.get("annotations") or {}
    role = labels.get(ROLE_LABEL) or annotations.get(ROLE_LABEL)
    if role is not None:
        return role == ROLE_EXECUTOR
    return ANNOTATION_PREFIX + "task" in annotations


def _runtime_rtt_ms(status: Mapping[str, Any]) -> float:
    """`faasml up` reports each node's simulated round trip under `faasml.rttMs`; a
    function spread over several nodes is taken at their mean (replicas are balanced)."""
    rtts = (status.get("faasml") or {}).get("rttMs") or {}
    values = [float(v) for v in rtts.values() if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else 0.0


def _placement(status: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[str | None, int]:
    """(node, its CPU count): from `faasml up`'s report, else the annotations.

    A function spread over several nodes is taken as one pool of their CPUs (its
    replicas are balanced over them); the pool's name joins theirs."""
    local = status.get("faasml") or {}
    nodes = [str(n) for n in local.get("nodes") or []]
    if nodes:
        cpus = local.get("cpus") or {}
        total = sum(int(cpus.get(n) or 1) for n in nodes)
        return "+".join(sorted(nodes)), max(1, total)
    node = annotations.get(ANNOTATION_PREFIX + "node", "").strip() or None
    return node, max(1, int(_float(annotations, "node-cpus", 1.0)))


def _direct_urls(status: Mapping[str, Any]) -> tuple[str, ...]:
    urls = (status.get("faasml") or {}).get("directUrls") or []
    if not isinstance(urls, list):
        return ()
    return tuple(u for u in urls if isinstance(u, str) and u.startswith(("http://", "https://")))


def variant_from_status(status: Mapping[str, Any], gateway: str,
                        default_namespace: str = "openfaas-fn") -> Variant:
    """Build a Variant from one entry of a gateway's `GET /system/functions` list."""
    annotations = {str(k): str(v) for k, v in (status.get("annotations") or {}).items()}
    task = annotations.get(ANNOTATION_PREFIX + "task", "").strip()
    if not task:
        raise InvalidVariant(f"function {status.get('name')!r} has no {ANNOTATION_PREFIX}task")
    accuracy = _float(annotations, "accuracy")
    if not 0.0 <= accuracy <= 1.0:
        raise InvalidVariant(f"accuracy {accuracy} of {status.get('name')!r} is outside 0..1")
    known = {"task", "accuracy", "accuracy-source", "latency-ms", "node-class", "precision", "rtt-ms",
             "node", "node-cpus"}
    node, node_cpus = _placement(status, annotations)
    replicas = int(status.get("replicas") or 0)
    available = status.get("availableReplicas")
    return Variant(
        name=str(status["name"]),
        namespace=str(status.get("namespace") or default_namespace),
        gateway=gateway.rstrip("/"),
        task=task,
        accuracy=accuracy,
        # A variant without a profile still gets a (pessimistic) prior; observed latency
        # replaces it after the first few requests.
        profile_latency_ms=_float(annotations, "latency-ms", 1000.0),
        node_class=annotations.get(ANNOTATION_PREFIX + "node-class", "cloud"),
        precision=annotations.get(ANNOTATION_PREFIX + "precision", "fp32"),
        accuracy_source=annotations.get(ANNOTATION_PREFIX + "accuracy-source", ""),
        rtt_ms=_float(annotations, "rtt-ms", _runtime_rtt_ms(status)),
        replicas=replicas,
        available_replicas=int(available) if available is not None else replicas,
        # `faasml up` names functions no node can run (e.g. a gpu variant on a CPU box).
        schedulable=not (status.get("faasml") or {}).get("unschedulable"),
        node=node,
        node_cpus=node_cpus,
        cpu_millis=cpu_millis(status.get("requests")),
        direct_urls=_direct_urls(status),
        extra={k: v for k, v in annotations.items()
               if k.startswith(ANNOTATION_PREFIX) and k[len(ANNOTATION_PREFIX):] not in known},
    )
