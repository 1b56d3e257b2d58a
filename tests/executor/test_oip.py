"""The Open Inference Protocol routes of the executor, on tiny real ONNX models."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from faasml.http import Headers, Request
from tests.executor.conftest import encode
from tests.executor.tiny_models import tensor_model_answer


def call(service, method, path, body=None, content_type="application/json"):
    raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    headers = Headers({"Content-Type": content_type} if content_type else {})
    response = service.handle(Request(method, path, {}, headers, raw))
    return response.status, json.loads(response.body), response


def tensor_request(x, mask, **extra):
    return {"id": "r-1", **extra, "inputs": [
        {"name": "x", "shape": list(np.shape(x)), "datatype": "FP32", "data": np.asarray(x).tolist()},
        {"name": "mask", "shape": list(np.shape(mask)), "datatype": "INT64", "data": np.asarray(mask).ravel().tolist()}]}


def test_tensor_infer_returns_the_graph_outputs(tensor_service):
    x = np.array([[1.0, 2.0, 3.0, 4.0], [-1.5, 0.0, 2.25, 8.0]], dtype=np.float32)
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=np.int64)
    status, body, response = call(tensor_service, "POST", "/v2/models/tiny-tensor/infer",
                                  tensor_request(x, mask))
    assert status == 200, body
    want_y, want_count = tensor_model_answer(x, mask)
    assert body["model_name"] == "tiny-tensor" and body["id"] == "r-1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["y"]["datatype"] == "FP32" and outputs["y"]["shape"] == [2, 2]
    np.testing.assert_allclose(np.reshape(outputs["y"]["data"], (2, 2)), want_y, rtol=1e-6)
    assert outputs["count"] == {"name": "count", "datatype": "INT64", "shape": [2], "data": want_count.tolist()}
    assert response.headers["X-Faasml-Variant"] == "tiny-tensor"


def test_requested_outputs_family_alias_and_version(tensor_service):
    request = tensor_request([[0, 0, 0, 1]], [[1, 0, 0]], outputs=[{"name": "count"}])
    for path in ("/v2/models/tiny-tensor/infer", "/v2/models/tiny-tensor/versions/1/infer"):
        status, body, _ = call(tensor_service, "POST", path, request)
        assert status == 200, body
        assert [o["name"] for o in body["outputs"]] == ["count"] and body["outputs"][0]["data"] == [1]


def test_simple_body_of_a_tensor_variant_is_the_protocol_request(tensor_service):
    status, body, _ = call(tensor_service, "POST", "/", tensor_request([[1, 1, 1, 1]], [[1, 1, 1]]))
    assert status == 200, body
    y = next(o for o in body["outputs"] if o["name"] == "y")
    np.testing.assert_allclose(y["data"], tensor_model_answer(np.ones((1, 4)), np.ones((1, 3)))[0].ravel())


def test_metadata_health_and_ready(tensor_service):
    status, body, _ = call(tensor_service, "GET", "/v2/models/tiny-tensor")
    assert status == 200
    assert body["name"] == "tiny-tensor" and body["platform"] == "onnxruntime_onnx" and body["versions"] == ["1"]
    assert body["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]},
                              {"name": "mask", "datatype": "INT64", "shape": [-1, 3]}]
    assert body["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 2]},
                               {"name": "count", "datatype": "INT64", "shape": [-1]}]
    assert call(tensor_service, "GET", "/v2/health/ready")[:2] == (200, {"ready": True})
    assert call(tensor_service, "GET", "/v2/health/live")[:2] == (200, {"live": True})
    assert call(tensor_service, "GET", "/v2/models/tiny-tensor/ready")[:2] == (200, {"name": "tiny-tensor", "ready": True})
    assert call(tensor_service, "GET", "/v2")[1]["name"] == "faasml-executor"


def _bad(x_tensor=None, mask_tensor=None, drop=None):
    inputs = {"x": {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
              "mask": {"name": "mask", "shape": [1, 3], "datatype": "INT64", "data": [1, 0, 1]}}
    inputs["x"].update(x_tensor or {})
    inputs["mask"].update(mask_tensor or {})
    return {"inputs": [t for n, t in inputs.items() if n != drop]}


@pytest.mark.parametrize("request_body,words", [
    (_bad({"datatype": "FLOAT32"}), "not one the protocol defines"),
    (_bad({"datatype": "FP64"}), "does not match the model's FP32"),
    (_bad({"shape": [1, 5], "data": [1, 2, 3, 4, 5]}), "does not match the model's [-1, 4]"),
    (_bad({"shape": [4], "data": [1, 2, 3, 4]}), "does not match the model's"),
    (_bad({"shape": [2, 4]}), "shape holds 8 elements but data has 4"),
    (_bad({"shape": [1, 3]}), "shape holds 3 elements but data has more than 3"),
    (_bad({"data": [1, "2", 3, 4]}), "must be numbers"),
    (_bad({"data": [1, True, 3, 4]}), "must be numbers"),
    (_bad({"data": [1, None, 3, 4]}), "must be numbers"),
    (_bad({"data": [1, 2, 3, 1e39]}), "outside FP32's range"),
    (_bad(mask_tensor={"data": [1, 0.5, 1]}), "whole numbers"),
    (_bad(mask_tensor={"datatype": "INT8", "data": [1, 0, 300]}), "outside INT8's range"),
    (_bad({"shape": "1x4"}), "shape must be a list of integers"),
    (_bad({"shape": [1, -4]}), "negative dimension"),
    (_bad({"shape": [1 << 20, 1 << 20]}), "more than"),
    (_bad(drop="mask"), "missing input(s) 'mask'"),
    ({"inputs": _bad()["inputs"] + [{"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}]},
     "unknown input(s) 'z'"),
    ({**_bad(), "outputs": [{"name": "nope"}]}, "unknown output(s) 'nope'"),
    ({"inputs": []}, "non-empty \"inputs\""),
    ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "no name"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32"}]}, "has no data"),
])
def test_bad_tensors_are_400_in_the_protocol_shape(tensor_service, request_body, words):
    status, body, response = call(tensor_service, "POST", "/v2/models/tiny-tensor/infer", request_body)
    assert status == 400, body
    assert set(body) == {"error"} and isinstance(body["error"], str) and words in body["error"], body
    assert response.headers["X-Faasml-Error-Code"] in ("invalid_tensor", "bad_json")


def test_protocol_errors_keep_the_protocol_shape(tensor_service):
    assert call(tensor_service, "POST", "/v2/models/tiny-tensor/infer", b"{not json")[:1] == (400,)
    status, body, _ = call(tensor_service, "POST", "/v2/models/other/infer", _bad())
    assert status == 404 and "not served here" in body["error"]
    status, body, _ = call(tensor_service, "POST", "/v2/models/tiny-tensor/versions/7/infer", _bad())
    assert status == 404 and "no version" in body["error"]
    status, body, response = call(tensor_service, "GET", "/v2/models/tiny-tensor/infer")
    assert status == 405 and response.headers["Allow"] == "POST" and set(body) == {"error"}
    assert call(tensor_service, "GET", "/v2/nowhere")[0] == 404
    status, body, _ = call(tensor_service, "POST", "/v2/models/tiny-tensor/infer", _bad(), "text/csv")
    assert status == 400 and set(body) == {"error"}


def test_not_ready_is_503_in_the_protocol_shape(tiny_models):
    from faasml.executor.config import ExecutorConfig
    from faasml.executor.service import ExecutorService

    service = ExecutorService(ExecutorConfig(model=str(tiny_models["tensor"])))   # not loaded
    assert call(service, "GET", "/v2/health/ready")[:2] == (503, {"ready": False})
    status, body, _ = call(service, "POST", "/v2/models/tiny-tensor/infer", _bad())
    assert status == 503 and set(body) == {"error"}


def test_image_variant_answers_base64_images_and_raw_tensors(image_service):
    images = [base64.b64encode(encode(c, "PNG")).decode() for c in ((250, 10, 10), (10, 10, 250))]
    request = {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": images}],
               "parameters": {"top_k": 2}}
    status, body, _ = call(image_service, "POST", "/v2/models/tiny-colour/infer", request)
    assert status == 200, body
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"]["shape"] == [2, 2] and outputs["label"]["data"][0] == "red"
    assert outputs["label"]["data"][2] == "blue" and outputs["index"]["datatype"] == "INT64"
    # the graph's own input: a [1, 3, 8, 8] tensor, all red after normalisation
    pixels = np.zeros((1, 3, 8, 8), dtype=np.float32)
    pixels[:, 0] = 1.0
    raw = {"inputs": [{"name": "input", "shape": [1, 3, 8, 8], "datatype": "FP32", "data": pixels.ravel().tolist()}]}
    status, body, _ = call(image_service, "POST", "/v2/models/tiny-colour/infer", raw)
    assert status == 200 and body["outputs"][0]["name"] == "logits"
    assert np.argmax(body["outputs"][0]["data"]) == 0
    status, body, _ = call(image_service, "POST", "/v2/models/tiny-colour/infer",
                           {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["%%%"]}]})
    assert status == 400 and "not base64" in body["error"]
    status, body, _ = call(image_service, "POST", "/v2/models/tiny-colour/infer",
                           {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                        "data": [base64.b64encode(b"not an image").decode()]}]})
    assert status in (400, 415) and set(body) == {"error"}
    assert call(image_service, "GET", "/v2/models/tiny-colour")[1]["inputs"] == [
        {"name": "image", "datatype": "BYTES", "shape": [-1]}]


def test_text_variant_answers_strings(text_service):
    request = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a cat", "a dog"]}]}
    status, body, _ = call(text_service, "POST", "/v2/models/tiny-text/infer", request)
    assert status == 200, body
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["embedding"]["shape"] == [2, 8] and outputs["truncated"]["data"] == [False, False]
    vector = np.array(outputs["embedding"]["data"][:8])
    assert abs(np.linalg.norm(vector) - 1) < 1e-5
    # the same as the simple body's answer
    simple = text_service.handle(Request("POST", "/", {}, Headers({"Content-Type": "text/plain"}), b"a cat"))
    np.testing.assert_allclose(json.loads(simple.body)["embedding"], vector, atol=1e-6)
    status, body, _ = call(text_service, "POST", "/v2/models/tiny-text/infer",
                           {"inputs": [{"name": "text", "shape": [5], "datatype": "BYTES", "data": ["x"] * 5}]})
    assert status == 413 and set(body) == {"error"}
