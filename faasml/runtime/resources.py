"""`limits` and `requests` as Kubernetes reads them: quantities such as `5Mi`, `0.5Gi`,
`128M` (memory, bytes) and `100m`, `0.5`, `2` (CPU, cores).

A deploy whose quantities do not parse is refused with a 400, as the Kubernetes API
refuses it under faas-netes, instead of starting a function whose limits mean nothing.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from faasml import errors as codes
from faasml.errors import BadRequest
from faasml.runtime.stack import FunctionSpec

_QUANTITY = re.compile(r"^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([KMGTPE]i|[kMGTPE]|m)?\s*$")
_FACTORS = {None: 1, "m": Decimal("0.001"),
            "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
            "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
RESOURCES = ("memory", "cpu")


class BadQuantity(BadRequest):
    code = codes.BAD_RESOURCES


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity as a number (`5Mi` -> 5242880, `100m` -> 0.1)."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise BadQuantity(f"{text!r} is not a quantity (e.g. 128Mi, 0.5Gi, 100m, 2)")
    try:
        value = Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation as exc:
        raise BadQuantity(f"{text!r} is not a quantity: {exc}") from exc
    if not value.is_finite() or value <= 0:
        raise BadQuantity(f"{text!r} must be a positive quantity")
    return value


def memory_bytes(text: str) -> int:
    """Bytes, rounded up as Kubernetes rounds a memory quantity to whole bytes."""
    return int(math.ceil(quantity(text)))


def cpu_cores(text: str) -> float:
    return float(quantity(text))


def check_resources(spec: FunctionSpec) -> None:
    """400 for a `limits`/`requests` entry that is not memory or CPU, or does not parse."""
    for section, values in (("limits", spec.limits), ("requests", spec.requests)):
        for name, value in (values or {}).items():
            if name not in RESOURCES:
                raise BadQuantity(f"{section}.{name}: only {', '.join(RESOURCES)} can be set")
            try:
                quantity(value)
            except BadQuantity as exc:
                raise BadQuantity(f"{section}.{name}: {exc.message}") from exc
