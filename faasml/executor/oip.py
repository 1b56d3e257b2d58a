"""The Open Inference Protocol (KServe v2 REST) on an executor: what Triton, KServe and
MLServer clients speak.

  GET  /v2                                  server metadata
  GET  /v2/health/live | /v2/health/ready   200 {"live"|"ready": true}; ready is 503 until loaded
  GET  /v2/models/<model>[/versions/<v>]    model metadata: name, versions, platform, inputs, outputs
  GET  /v2/models/<model>[/versions/<v>]/ready
  POST /v2/models/<model>[/versions/<v>]/infer

`<model>` is the variant's name (its function's) or its family: the selector forwards
to the variant it chose under the variant's own name (docs/api.md, "Open Inference
Protocol"). Every variant answers in named tensors:
- `tensor` variants take the ONNX graph's own inputs and return its outputs;
- image-classification variants take one BYTES input `image` (each element a
  base64-encoded JPEG/PNG/WebP) and return `label` (BYTES), `index` (INT64) and `score`
  (FP32), each [n, top_k]; text variants take one BYTES input `text` (UTF-8 strings) and
  return `embedding` (FP32 [n, dim]) and `truncated` (BOOL [n]). Both also accept the
  ONNX graph's raw inputs, as a tensor variant does.
Errors on these routes have the protocol's shape, `{"error": "<message>"}`, with the
status faasml gives the same fault elsewhere (400 for a bad tensor, 404 for another
model, 503 while loading); the X-Faasml-Error-Code header keeps faasml's error code.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Callable

import numpy as np

from faasml import errors as codes
from faasml import __version__
from faasml.errors import BadRequest, FaasmlError, MethodNotAllowed, NotFound
from faasml.executor import tensor as tensors
from faasml.executor.variant import LoadedVariant, Timing
from faasml.http import Headers, Request, Response
from faasml.modelcard import TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING

PREFIX = "/v2"
PLATFORM = "onnxruntime_onnx"
VERSION = "1"
IMAGE_INPUT, TEXT_INPUT = "image", "text"
_MODEL_PATH = re.compile(r"^/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?"
                         r"(?P<action>/ready|/infer)?$")


def is_protocol_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_response(exc: FaasmlError) -> Response:
    """The protocol's error object, with faasml's status and headers."""
    headers = Headers({"Content-Type": "application/json", "X-Faasml-Error-Code": exc.code})
    headers.update(exc.headers)
    return Response(exc.status, json.dumps({"error": exc.message}).encode(), headers)


class OpenInference:
    """The protocol's routes over the service's loaded variant (None while it loads)."""

    def __init__(self, variant: Callable[[], LoadedVariant | None], not_ready: Callable[[], FaasmlError],
                 default_top_k: int, max_image_pixels: int, max_batch: int, max_text_chars: int):
        self._variant = variant
        self._not_ready = not_ready
        self.default_top_k = default_top_k
        self.max_image_pixels = max_image_pixels
        self.max_batch = max_batch
        self.max_text_chars = max_text_chars

    def handle(self, request: Request, path: str) -> Response:
        try:
            return self._route(request, path)
        except FaasmlError as exc:
            return error_response(exc)

    def _route(self, request: Request, path: str) -> Response:
        if path in (PREFIX, PREFIX + "/health/live"):
            self._only(request, "GET")
            body = {"live": True} if path.endswith("/live") else {
                "name": "faasml-executor", "version": __version__, "extensions": []}
            return Response.json(body)
        if path == PREFIX + "/health/ready":
            self._only(request, "GET")
            if self._variant() is None:
                return Response.json({"ready": False}, status=503, headers={"Retry-After": "1"})
            return Response.json({"ready": True})
        match = _MODEL_PATH.match(path)
        if not match:
            raise NotFound(f"no Open Inference Protocol route {path}")
        variant = self._model(match.group("model"), match.group("version"))
        action = match.group("action")
        if action == "/infer":
            self._only(request, "POST")
            return self._infer(variant, request)
        self._only(request, "GET")
        if action == "/ready":
            return Response.json({"name": variant.card.name, "ready": True})
        return Response.json(self.metadata(variant))

    @staticmethod
    def _only(request: Request, method: str) -> None:
        if request.method != method:
            raise MethodNotAllowed(f"{request.method} {request.path}: use {method}", headers={"Allow": method})

    def _model(self, name: str, version: str | None) -> LoadedVariant:
        variant = self._variant()
        if variant is None:
            raise self._not_ready()
        if name not in (variant.card.name, variant.card.family):
            raise NotFound(f"model {name!r} is not served here; this executor serves "
                           f"{variant.card.name!r} (family {variant.card.family!r})", code=codes.UNKNOWN_MODEL)
        if version not in (None, VERSION):
            raise NotFound(f"model {name!r} has no version {version!r}; it has {VERSION!r}",
                           code=codes.UNKNOWN_VERSION)
        return variant

    # metadata ---------------------------------------------------------------------------

    def metadata(self, variant: LoadedVariant) -> dict[str, Any]:
        inputs, outputs = self.signature(variant)
        return {"name": variant.card.name, "versions": [VERSION], "platform": PLATFORM,
                "inputs": [s.to_dict() for s in inputs], "outputs": [s.to_dict() for s in outputs]}

    def signature(self, variant: LoadedVariant) -> tuple[list[tensors.TensorSpec], list[tensors.TensorSpec]]:
        task = variant.card.task
        if task == TASK_IMAGE_CLASSIFICATION:
            return ([tensors.TensorSpec(IMAGE_INPUT, "BYTES", (-1,))],
                    [tensors.TensorSpec("label", "BYTES", (-1, -1)), tensors.TensorSpec("index", "INT64", (-1, -1)),
                     tensors.TensorSpec("score", "FP32", (-1, -1))])
        if task == TASK_SENTENCE_EMBEDDING:
            dim = variant.card.embedding_dim or -1
            return ([tensors.TensorSpec(TEXT_INPUT, "BYTES", (-1,))],
                    [tensors.TensorSpec("embedding", "FP32", (-1, dim)), tensors.TensorSpec("truncated", "BOOL", (-1,))])
        return graph_signature(variant)

    # inference --------------------------------------------------------------------------

    def _infer(self, variant: LoadedVariant, request: Request) -> Response:
        if request.content_type not in ("", "application/json"):
            raise BadRequest(f"content type {request.content_type!r}: send the JSON inference request "
                             "(application/json)", code="unsupported_media_type")
        body = tensors.parse_request(request.body)
        timing = Timing()
        outputs = self.infer(variant, body, timing)
        answer: dict[str, Any] = {"model_name": variant.card.name, "model_version": VERSION}
        if "id" in body:
            answer["id"] = body["id"]
        answer["outputs"] = outputs
        return Response.json(answer, headers={"X-Faasml-Compute-Ms": f"{timing.compute_ms:.3f}",
                                              "X-Faasml-Variant": variant.card.name})

    def infer(self, variant: LoadedVariant, body: dict[str, Any], timing: Timing) -> list[dict[str, Any]]:
        """The response's `outputs` for a parsed request."""
        named = [tensors.parse_tensor(raw) for raw in body["inputs"]]
        names = [n for n, _, _ in named]
        if len(set(names)) != len(names):
            raise BadRequest("an input name appears twice", code=codes.INVALID_TENSOR)
        graph_inputs, _ = graph_signature(variant)
        if variant.card.task == TASK_IMAGE_CLASSIFICATION and names == [IMAGE_INPUT] \
                and IMAGE_INPUT not in {s.name for s in graph_inputs}:
            return self._classify(variant, named[0], body, timing)
        if variant.card.task == TASK_SENTENCE_EMBEDDING and names == [TEXT_INPUT] \
                and TEXT_INPUT not in {s.name for s in graph_inputs}:
            return self._embed(variant, named[0], body, timing)
        return run_graph(variant, named, body, timing)

    def _classify(self, variant: LoadedVariant, named: tuple[str, np.ndarray, str], body: dict[str, Any],
                  timing: Timing) -> list[dict[str, Any]]:
        _, array, datatype = named
        if datatype != "BYTES" or array.ndim != 1 or not array.size:
            raise BadRequest(f"input {IMAGE_INPUT!r}: a BYTES tensor of shape [n], each element a "
                             "base64-encoded image", code=codes.INVALID_TENSOR)
        k = _top_k(body.get("parameters", {}).get("top_k"), self.default_top_k, variant.num_classes)
        rows = []
        for i, item in enumerate(array):
            try:
                image = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(f"input {IMAGE_INPUT!r}[{i}] is not base64", code=codes.INVALID_TENSOR) from None
            rows.append(variant.classify(image, k, self.max_image_pixels, timing))
        outputs = {"label": np.array([[p["label"] for p in r] for r in rows], dtype=object),
                   "index": np.array([[p["index"] for p in r] for r in rows], dtype=np.int64),
                   "score": np.array([[p["score"] for p in r] for r in rows], dtype=np.float32)}
        return _select(outputs, body)

    def _embed(self, variant: LoadedVariant, named: tuple[str, np.ndarray, str], body: dict[str, Any],
               timing: Timing) -> list[dict[str, Any]]:
        _, array, datatype = named
        if datatype != "BYTES" or array.ndim != 1 or not array.size:
            raise BadRequest(f"input {TEXT_INPUT!r}: a BYTES tensor of shape [n] of UTF-8 strings",
                             code=codes.INVALID_TENSOR)
        if array.size > self.max_batch:
            raise BadRequest(f"{array.size} texts in one request; the limit is {self.max_batch}",
                             code="batch_too_large", status=413)
        texts = [str(t) for t in array]
        for i, text in enumerate(texts):
            if not text.strip() or len(text) > self.max_text_chars:
                raise BadRequest(f"input {TEXT_INPUT!r}[{i}] is empty or longer than {self.max_text_chars} "
                                 "characters", code=codes.INVALID_TENSOR)
        vectors, truncated = variant.embed(texts, timing)
        outputs = {"embedding": vectors.astype(np.float32), "truncated": np.array(truncated, dtype=np.bool_)}
        return _select(outputs, body)


def graph_signature(variant: LoadedVariant) -> tuple[list[tensors.TensorSpec], list[tensors.TensorSpec]]:
    """The ONNX graph's inputs and outputs, as the session reports them."""
    session = variant.session
    return ([tensors.spec_of(i) for i in session.get_inputs()],
            [tensors.spec_of(o) for o in session.get_outputs()])


def run_graph(variant: LoadedVariant, named: list[tuple[str, np.ndarray, str]], body: dict[str, Any],
              timing: Timing) -> list[dict[str, Any]]:
    """The graph on the request's tensors: every graph input given, each as declared."""
    import time

    inputs, outputs = graph_signature(variant)
    given = {name: (array, datatype) for name, array, datatype in named}
    wanted = {s.name for s in inputs}
    missing, unknown = sorted(wanted - set(given)), sorted(set(given) - wanted)
    if missing or unknown:
        parts = ([f"missing input(s) {', '.join(map(repr, missing))}"] if missing else []) + \
                ([f"unknown input(s) {', '.join(map(repr, unknown))}"] if unknown else [])
        raise BadRequest(f"{'; '.join(parts)}; the model takes "
                         f"{', '.join(f'{s.name} {s.datatype} {list(s.shape)}' for s in inputs)}",
                         code=codes.INVALID_TENSOR)
    feeds = {}
    for spec in inputs:
        array, datatype = given[spec.name]
        tensors.check_against(spec, array, datatype)
        feeds[spec.name] = array
    names = tensors.requested_outputs(body, [s.name for s in outputs])
    started = time.perf_counter()
    try:
        results = variant.session.run(names, feeds)
    except Exception as exc:
        # ONNX Runtime's own shape checks (a dynamic dimension two inputs must share, a
        # Reshape the data does not fit) are the client's fault; anything else is ours (500).
        if type(exc).__name__ != "InvalidArgument":
            raise
        raise BadRequest(f"the model refused these inputs: {_first_line(exc)}", code=codes.INVALID_TENSOR) from None
    timing.inference_ms = (time.perf_counter() - started) * 1e3
    by_name = {s.name: s for s in outputs}
    return [tensors.encode_tensor(n, r, by_name[n].datatype) for n, r in zip(names, results)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _select(outputs: dict[str, np.ndarray], body: dict[str, Any]) -> list[dict[str, Any]]:
    names = tensors.requested_outputs(body, list(outputs))
    return [tensors.encode_tensor(n, outputs[n]) for n in names]


def _top_k(raw: Any, default: int, num_classes: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= num_classes:
        raise BadRequest(f"parameters.top_k must be a whole number from 1 to {num_classes}", code=codes.BAD_PARAMETER)
    return raw
