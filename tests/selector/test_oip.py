"""The Open Inference Protocol through the selector (faasml/selector/oip.py): <model> as a
variant, a family or a task; the trade-off and limits from the query, a header or the
body's `parameters`; the body forwarded to the chosen variant's /v2 infer path; errors in
the protocol's shape."""
from __future__ import annotations

import json

import pytest

from faasml.http import Headers, Request

from .conftest import TASK, body, make_service
from .toygateway import executor_status

INFER = {"id": "r-1", "inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 0.25]}]}


@pytest.fixture
def selector(gateway):
    gateway.functions = [executor_status("lite-fp32", TASK, 0.80, 60.0, family="lite"),
                         executor_status("lite-int8", TASK, 0.76, 10.0, family="lite"),
                         executor_status("other", TASK, 0.90, 90.0, family="big"),
                         executor_status("user-tensor-fp32", "tensor", 0.9, 30.0, family="user-tensor")]
    gateway.behaviours = {f["name"]: "echo" for f in gateway.functions}
    service = make_service(gateway)
    yield service
    service.stop()


def call(service, method: str, path: str, payload=None, headers=None, **query):
    data = json.dumps(payload).encode() if payload is not None else b""
    return service.handle(Request(method, path, {k: str(v) for k, v in query.items()},
                                  Headers(headers or {"Content-Type": "application/json"}), data))


def test_a_family_is_chosen_among_by_the_trade_off_in_the_body_and_forwarded_to_its_infer_path(selector, gateway):
    accurate = call(selector, "POST", "/v2/models/lite/infer", dict(INFER, parameters={"tradeoff": 1.0}))
    fast = call(selector, "POST", "/v2/models/lite/infer", dict(INFER, parameters={"tradeoff": 0.0}))
    assert accurate.status == fast.status == 200
    # Only the family's variants, though `other` (another family) is more accurate still.
    assert body(accurate) == {"variant": "lite-fp32", "bytes": len(json.dumps(dict(INFER, parameters={"tradeoff": 1.0}))),
                              "query": "", "path": "/v2/models/lite-fp32/infer"}
    assert accurate.headers["X-Faasml-Variant"] == "lite-fp32"
    assert body(fast)["variant"] == "lite-int8" and body(fast)["path"] == "/v2/models/lite-int8/infer"
    # The body goes on unchanged.
    forwarded = [c for c in gateway.calls if c[0] == "lite-fp32"][-1]
    assert json.loads(forwarded[3]) == dict(INFER, parameters={"tradeoff": 1.0})


def test_query_beats_header_beats_the_body(selector):
    payload = dict(INFER, parameters={"tradeoff": 1.0})
    assert body(call(selector, "POST", "/v2/models/lite/infer", payload,
                     {"X-Faasml-Tradeoff": "0"}))["variant"] == "lite-int8"
    assert body(call(selector, "POST", "/v2/models/lite/infer", payload, {"X-Faasml-Tradeoff": "0"},
                     tradeoff=1))["variant"] == "lite-fp32"


def test_a_variant_name_pins_and_a_task_selects_among_all(selector):
    pinned = call(selector, "POST", "/v2/models/lite-int8/versions/1/infer", dict(INFER, parameters={"tradeoff": 1}))
    assert body(pinned)["variant"] == "lite-int8" and pinned.headers["X-Faasml-Policy"] == "pinned"
    by_task = call(selector, "POST", f"/v2/models/{TASK}/infer", dict(INFER, parameters={"tradeoff": 1}))
    assert body(by_task)["variant"] == "other"


def test_errors_have_the_protocols_shape(selector):
    for response, status, code in [
        (call(selector, "POST", "/v2/models/nothing/infer", INFER), 404, "unknown_model"),
        (call(selector, "POST", "/v2/models/tensor/infer", INFER), 404, "unknown_model"),   # not selectable
        (call(selector, "POST", "/v2/models/lite/versions/2/infer", INFER), 404, "unknown_version"),
        (call(selector, "GET", "/v2/models/lite/infer"), 405, "method_not_allowed"),
        (call(selector, "POST", "/v2/models/lite/infer", dict(INFER, parameters={"tradeoff": 3})), 400, "bad_parameter"),
        (call(selector, "POST", "/v2/models/lite/infer", INFER, min_accuracy=0.99), 422, "infeasible"),
    ]:
        assert response.status == status, (status, response.body)
        assert set(body(response)) == {"error"} and response.headers["X-Faasml-Error-Code"] == code


def test_health_and_metadata(selector):
    assert body(call(selector, "GET", "/v2/health/live")) == {"live": True}
    assert body(call(selector, "GET", "/v2/health/ready")) == {"ready": True}
    metadata = call(selector, "GET", "/v2/models/user-tensor")
    # The toy answers any GET on a function it runs with {"ready": true}: that it reached
    # the family's most accurate variant is what counts here.
    assert metadata.status == 200 and metadata.headers["X-Faasml-Variant"] == "user-tensor-fp32"
