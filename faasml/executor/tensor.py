"""Named tensors as the Open Inference Protocol (KServe v2) writes them in JSON.

An inference request holds `inputs`, each `{"name", "shape", "datatype", "data"}` with
`data` flat or nested in row-major order; a response holds `outputs` of the same shape.
This module turns request tensors into numpy arrays checked against what the model
declares, and numpy arrays back into response tensors. Anything a client can get wrong
(an unknown datatype name, a shape that does not match the data or the model, a string
where numbers belong, an integer out of its type's range) is a BadRequest naming the
tensor; the routes (faasml/executor/oip.py) answer it as 400 in the protocol's shape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from faasml import errors as codes
from faasml.errors import BadRequest

# The protocol's datatype names (its "Tensor Data Types" table) and numpy's types for them.
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}
# ONNX Runtime's input/output type strings -> the protocol's names.
ONNX_DATATYPES = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(int8)": "INT8",
    "tensor(int16)": "INT16", "tensor(int32)": "INT32", "tensor(int64)": "INT64",
    "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
NUMPY_DATATYPES = {np.dtype(t): name for name, t in DATATYPES.items() if name != "BYTES"}
# Most elements one request tensor may hold: a 20 MB JSON body holds fewer numbers than
# this, so it only stops a shape that claims far more than was sent before any allocation.
MAX_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the model declares it; -1 marks a dynamic dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def spec_of(node: Any) -> TensorSpec:
    """A TensorSpec from an ONNX Runtime NodeArg (session.get_inputs()/get_outputs())."""
    datatype = ONNX_DATATYPES.get(node.type)
    if datatype is None:
        raise ValueError(f"{node.name}: ONNX type {node.type} has no Open Inference Protocol datatype")
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (node.shape or []))
    return TensorSpec(node.name, datatype, shape)


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code=codes.INVALID_TENSOR)


def _shape(name: str, raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in raw):
        raise _bad(f"input {name!r}: shape must be a list of integers, got {str(raw)[:60]}")
    if any(d < 0 for d in raw):
        raise _bad(f"input {name!r}: shape {raw} has a negative dimension")
    if math.prod(raw) > MAX_ELEMENTS:
        raise _bad(f"input {name!r}: shape {raw} holds more than {MAX_ELEMENTS} elements")
    return tuple(raw)


def _flat(name: str, data: Any, count: int) -> list[Any]:
    """The elements of `data` (flat or nested lists) in row-major order."""
    if not isinstance(data, list):
        data = [data]
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            flat.append(item)
            if len(flat) > count:
                break
    if len(flat) > count:
        raise _bad(f"input {name!r}: shape holds {count} elements but data has more than {count}")
    if len(flat) < count:
        raise _bad(f"input {name!r}: shape holds {count} elements but data has {len(flat)}")
    return flat


_END = object()


def _numbers(name: str, datatype: str, flat: list[Any]) -> np.ndarray:
    kind = DATATYPES[datatype]
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise _bad(f"input {name!r}: BOOL data must be true or false")
        return np.array(flat, dtype=np.bool_)
    if any(isinstance(v, (bool, str)) or not isinstance(v, (int, float)) for v in flat):
        bad = next(v for v in flat if isinstance(v, (bool, str)) or not isinstance(v, (int, float)))
        raise _bad(f"input {name!r}: {datatype} data must be numbers, found {type(bad).__name__} "
                   f"{str(bad)[:30]!r}")
    if np.issubdtype(kind, np.integer):
        if not all(isinstance(v, int) for v in flat):
            raise _bad(f"input {name!r}: {datatype} data must be whole numbers")
        info = np.iinfo(kind)
        if flat and (min(flat) < info.min or max(flat) > info.max):
            raise _bad(f"input {name!r}: a value lies outside {datatype}'s range {info.min}..{info.max}")
        return np.array(flat, dtype=kind)
    with np.errstate(over="ignore"):
        array = np.array(flat, dtype=kind)
    if not np.isfinite(array).all() and np.isfinite(np.array(flat, dtype=np.float64)).all():
        raise _bad(f"input {name!r}: a value lies outside {datatype}'s range")
    return array


def _bytes(name: str, flat: list[Any]) -> np.ndarray:
    if not all(isinstance(v, str) for v in flat):
        raise _bad(f"input {name!r}: BYTES data must be strings")
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


def parse_tensor(raw: Any) -> tuple[str, np.ndarray, str]:
    """(name, array in its declared shape, datatype) of one request input."""
    if not isinstance(raw, dict):
        raise _bad("each input must be an object with name, shape, datatype and data")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _bad("an input has no name")
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise _bad(f"input {name!r}: datatype {str(datatype)[:30]!r} is not one the protocol defines "
                   f"({', '.join(DATATYPES)})")
    if "data" not in raw:
        raise _bad(f"input {name!r} has no data (binary tensor data is not accepted)")
    shape = _shape(name, raw.get("shape"))
    flat = _flat(name, raw["data"], math.prod(shape))
    array = _bytes(name, flat) if datatype == "BYTES" else _numbers(name, datatype, flat)
    return name, array.reshape(shape), datatype


def check_against(spec: TensorSpec, array: np.ndarray, datatype: str) -> None:
    """The model's datatype and every static dimension must match; dynamic ones are free."""
    if datatype != spec.datatype:
        raise _bad(f"input {spec.name!r}: datatype {datatype} does not match the model's {spec.datatype}")
    if spec.shape and (array.ndim != len(spec.shape) or any(
            want >= 0 and got != want for got, want in zip(array.shape, spec.shape))):
        wanted = ["-1" if d < 0 else str(d) for d in spec.shape]
        raise _bad(f"input {spec.name!r}: shape {list(array.shape)} does not match the model's "
                   f"[{', '.join(wanted)}] (-1: any size)")


def parse_request(body: bytes) -> dict[str, Any]:
    """The request object, with `inputs` a non-empty list; `outputs` and `id` checked."""
    import json

    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not JSON: {str(exc)[:80]}", code=codes.BAD_JSON) from None
    if not isinstance(request, dict):
        raise BadRequest("the body must be an inference request object", code=codes.BAD_JSON)
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("an inference request needs a non-empty \"inputs\" list", code=codes.BAD_JSON)
    outputs = request.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                for o in outputs):
        raise BadRequest("\"outputs\" must be a list of objects with a name", code=codes.BAD_JSON)
    if "id" in request and not isinstance(request["id"], str):
        raise BadRequest("\"id\" must be a string", code=codes.BAD_JSON)
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest("\"parameters\" must be an object", code=codes.BAD_JSON)
    return request


def requested_outputs(request: dict[str, Any], available: Sequence[str]) -> list[str]:
    """The outputs the request names (all when it names none); unknown ones are a 400."""
    names = [o["name"] for o in request.get("outputs", [])]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise _bad(f"unknown output(s) {', '.join(repr(n) for n in unknown)}; the model has "
                   f"{', '.join(available)}")
    return names or list(available)


def encode_tensor(name: str, array: np.ndarray, datatype: str | None = None) -> dict[str, Any]:
    """A response tensor: flat row-major data."""
    array = np.asarray(array)
    if datatype is None:
        datatype = "BYTES" if array.dtype.kind in "OSU" else NUMPY_DATATYPES[array.dtype]
    flat = array.reshape(-1)
    if datatype == "BYTES":
        data = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    else:
        data = flat.tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}
